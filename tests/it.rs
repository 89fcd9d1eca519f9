//! The one integration-test binary: a module per area (fewer link steps on 2 cores).

#[path = "it/support.rs"]
mod support;

#[path = "it/jose_round_trip.rs"]
mod jose_round_trip;
