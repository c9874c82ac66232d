//! The `contract!` macro: from one list of operations it writes the
//! `Backend` trait (what every backend must implement) and the `Store`
//! methods that forward to the backend in use. The list itself, with each
//! operation's promise, is in `store/mod.rs`.
//!
//! Entries under `forward` become both; `, notify account` after the return
//! type wakes that account's IDLE sessions (`Store::watch`) after a
//! successful call. Entries under `own` go into the trait only: `Store`
//! wraps them by hand.

macro_rules! contract {
    (
        forward {
            $(
                $(#[$fdoc:meta])*
                fn $f:ident($($fa:ident: $ft:ty),* $(,)?) -> $fr:ty $(, notify $who:ident)?;
            )*
        }
        own {
            $(
                $(#[$odoc:meta])*
                fn $o:ident($($oa:ident: $ot:ty),* $(,)?) -> $or:ty;
            )*
        }
    ) => {
        /// What every backend implements; see the list in `store/mod.rs`.
        pub(crate) trait Backend: Send + Sync {
            $(
                $(#[$fdoc])*
                fn $f(&self, $($fa: $ft),*) -> impl std::future::Future<Output = Result<$fr, StoreError>> + Send;
            )*
            $(
                $(#[$odoc])*
                fn $o(&self, $($oa: $ot),*) -> impl std::future::Future<Output = Result<$or, StoreError>> + Send;
            )*
        }

        impl Store {
            $(
                $(#[$fdoc])*
                pub async fn $f(&self, $($fa: $ft),*) -> Result<$fr, StoreError> {
                    $( let notify = $who.clone(); )?
                    let result = on_backend!(self, $f($($fa),*));
                    $(
                        let _ = stringify!($who);
                        if result.is_ok() {
                            self.changed(&notify);
                        }
                    )?
                    result
                }
            )*
        }
    };
}

pub(super) use contract;
