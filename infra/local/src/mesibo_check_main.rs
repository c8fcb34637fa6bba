//! `make mesibo-check`: the mesibo calls of this backend against a real mesibo account (README, mesibo). Needs
//! `MESIBO_APP_TOKEN`; `MESIBO_API_URL` defaults to mesibo's cloud.

use local_stack::mesibo_check;
use shared::config::DEFAULT_MESIBO_API_URL;

#[tokio::main]
async fn main() {
    let Some(token) = std::env::var("MESIBO_APP_TOKEN").ok().filter(|t| !t.trim().is_empty()) else {
        eprintln!("mesibo-check: set MESIBO_APP_TOKEN (and MESIBO_API_URL for a server other than mesibo's cloud)");
        std::process::exit(2);
    };
    let url = std::env::var("MESIBO_API_URL").ok().filter(|u| !u.trim().is_empty());
    let url = url.unwrap_or_else(|| DEFAULT_MESIBO_API_URL.to_owned());
    println!("mesibo-check against {url}");
    let client = mesibo_check::client(&url, &token, |line| println!("{line}"));
    match mesibo_check::run(&client, &|line| println!("{line}")).await {
        Ok(_) => println!("mesibo-check: every call went through"),
        Err(failed) => {
            eprintln!("mesibo-check: {failed}");
            std::process::exit(1);
        }
    }
}
