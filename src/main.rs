use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hato: mail appliance (SMTP, IMAP, POP3, WebMail).
#[derive(Debug, Parser)]
#[command(name = "hato", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mail services. Without --config: a development server on high
    /// ports with its data in ./hato-data and a demo account.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Administer a server (domains, accounts, queue, logs ...).
    Ctl(Box<hato::ctl::CtlArgs>),
    /// PID 1 of the appliance: bring the box up, supervise its services, power off cleanly.
    Init,
    /// This node's MariaDB Galera server, as the supervisor runs it: waits for
    /// `hato ctl cluster init` or `join`, then starts (recovering after a crash)
    /// and becomes mariadbd.
    GaleraNode {
        /// The cluster directory (`<data_dir>/cluster`).
        #[arg(long)]
        dir: PathBuf,
    },
    /// The cluster's service addresses, as the supervisor runs it: waits
    /// until cluster.toml names some, then runs keepalived for them and
    /// reloads it when the members change.
    VrrpNode {
        /// The cluster directory (`<data_dir>/cluster`).
        #[arg(long)]
        dir: PathBuf,
        /// hato serve's configuration (the health gate asks that server).
        #[arg(long)]
        config: PathBuf,
        /// Who runs the health gate (it needs the control socket).
        #[arg(long, default_value = "hato")]
        script_user: String,
    },
    /// Run services under the supervisor (what `hato init` does on the appliance).
    Supervise {
        #[arg(long)]
        config: PathBuf,
    },
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hato: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let cfg = match hato::config::Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("hato: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime().block_on(hato::serve::serve(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hato: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Init => hato::supervisor::init::main(),
        Command::VrrpNode { dir, config, script_user } => {
            if let Err(e) = hato::logs::init("info") {
                eprintln!("hato: {e}");
            }
            let dir = hato::cluster::node::Dir(std::path::absolute(&dir).unwrap_or(dir));
            let config = std::path::absolute(&config).unwrap_or(config);
            let e = runtime().block_on(hato::cluster::vrrp::run(&dir, &config, &script_user));
            eprintln!("hato vrrp-node: {e}");
            ExitCode::from(1)
        }
        Command::GaleraNode { dir } => {
            if let Err(e) = hato::logs::init("info") {
                eprintln!("hato: {e}");
            }
            // my.cnf names its files by this path, for mariadbd started elsewhere.
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            let e = hato::cluster::mariadb::run(&hato::cluster::node::Dir(dir));
            eprintln!("hato galera-node: {e}");
            ExitCode::from(1)
        }
        Command::Supervise { config } => {
            let cfg = match hato::supervisor::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("hato: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = hato::logs::init("info") {
                eprintln!("hato: {e}");
            }
            runtime().block_on(hato::supervisor::Supervisor::new(cfg).run(hato::serve::wait_for_stop()));
            ExitCode::SUCCESS
        }
        Command::Ctl(args) => match runtime().block_on(hato::ctl::run(*args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hato ctl: {e}");
                ExitCode::from(e.exit_code() as u8)
            }
        },
    }
}
