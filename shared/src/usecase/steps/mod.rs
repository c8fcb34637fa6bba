//! Steps that use cases share: a use case never calls into another, so what two need lives here.

pub mod code_attempt;
pub mod device_list;
pub mod group_admission;
pub mod group_edit;
pub mod mesibo_cleanup;
pub mod photos;
pub mod session;
