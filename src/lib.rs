//! Hato: an integrated mail server meant to run as an appliance.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view and the path of a message.

pub mod acme;
pub mod address;
pub mod alert;
pub mod archive;
pub mod cidr;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod control;
pub mod ctl;
pub mod dane;
pub mod directory;
pub mod dns;
pub mod files;
pub mod filter;
#[doc(hidden)]
pub mod fuzz;
pub mod guard;
pub mod health;
pub mod https;
pub mod ids;
pub mod imap;
pub mod listener;
pub mod logs;
pub mod mailauth;
pub mod managesieve;
pub mod mbox;
pub mod pop3;
pub mod queue;
pub mod serve;
pub mod sieve;
pub mod smtp;
pub mod snmp;
pub mod spam;
pub mod stats;
pub mod store;
pub mod summary;
pub mod supervisor;
pub mod tls;
pub mod vacation;
pub mod web;
