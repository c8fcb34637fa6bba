//! All integration tests, one binary. Run with the local stack: `make test`.

mod account;
mod apps;
mod architecture;
mod compat;
mod contacts;
mod contract;
mod events;
mod faults;
mod groups;
mod joined;
mod limits;
mod mesibo;
mod outage;
mod privacy;
mod signin;
mod sms_numbers;
mod stress;
