//! `sqlx::migrate!` embeds the migrations when the crate is compiled: a migration added or
//! changed without a change to the crate's code must compile it again.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
