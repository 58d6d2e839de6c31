//! Access tokens: comet verifies one per REST request and per socket auth; logic signs one per
//! login or refresh.

use criterion::{Criterion, criterion_group, criterion_main};
use natter_logic::SigningKeys;
use natter_proto::access::AccessClaims;
use std::hint::black_box;

fn tokens(c: &mut Criterion) {
    let keys = SigningKeys::generate();
    let verifier = keys.verifier();
    let claims = AccessClaims {
        sub: "01a20194-e6e8-73f9-8ef1-507b66b945a8".into(),
        sid: "01a20194-e6ea-74c9-9806-84ae4d17669e".into(),
        iat: 1_795_322_865,
        exp: 4_000_000_000,
    };
    let token = keys.sign(&claims);
    c.bench_function("access token verify (EdDSA)", |b| {
        b.iter(|| verifier.verify(black_box(&token)).expect("valid"))
    });
    c.bench_function("access token sign (EdDSA)", |b| {
        b.iter(|| keys.sign(black_box(&claims)))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
