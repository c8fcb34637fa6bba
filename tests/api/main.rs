//! All integration tests, one binary. Run with the local stack: `make test`.

mod contract;
mod events;
mod outage;
mod signin;
