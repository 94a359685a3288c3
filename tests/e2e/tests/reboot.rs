//! The reboot coordinator end to end: `drydock rebootd` processes on this machine, one per fake
//! Node, against a real API server. Run with `DRYDOCK_E2E_KUBECONFIG` set:
//! `cargo test -p drydock-e2e -- --ignored`.

use drydock_e2e::{TestNamespace, client};

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn a_test_namespace_is_created_and_removed() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "reboot").await.unwrap();
    assert!(ns.name().starts_with("reboot-"));
    ns.cleanup().await.unwrap();
}
