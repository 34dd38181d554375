//! Fuzz target: a kubelet credential provider's answer on stdout
//! (`config::credentials::credential_provider::parse_response`), for each API version
//! the kubelet speaks (the first byte picks one).
#![no_main]

use libfuzzer_sys::fuzz_target;

const VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[usize::from(*first) % VERSIONS.len()];
    let _ = regprobe::config::credentials::credential_provider::parse_response(rest, version);
});
