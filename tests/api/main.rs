//! All integration tests, one binary. Run with the local stack: `make test`.

mod abuse;
mod account;
mod apps;
mod architecture;
mod compat;
mod contacts;
mod contract;
mod device_abuse;
mod events;
mod faults;
mod group_abuse;
mod groups;
mod joined;
mod limits;
mod mesibo;
mod outage;
mod permissions;
mod privacy;
mod sam_local;
mod settings;
mod signin;
mod sms_numbers;
mod stress;
mod text_abuse;
