//! Policy benchmark: what external and local policy add to each call's routing decision. Runs
//! the node's own policy code (`convene_engine::policy`, the functions `ServiceDirectory::route`
//! calls) against a real HTTP policy server on loopback (tests/policy_server.rs), sequentially
//! for per-call latency, then concurrently against a slow server to show that waiting calls do
//! not queue behind each other.
//! `cargo build --bins && target/debug/convene-bench-policy [--calls N]`

#[path = "../../tests/policy_server.rs"]
mod policy_server;

use std::time::{Duration, Instant};

use convene_engine::policy::{self, CallInfo, NodeIdentity, NodePolicy, ParticipantDecision, PolicyProfile, ServiceDecision, local};
use policy_server::{PolicyServer, Reply};
use serde_json::{Value, json};

fn call(i: usize) -> CallInfo {
    CallInfo::from_map(
        json!({"local_alias": format!("sip:room{i}@example.com"), "remote_alias": "sip:alice@example.com", "remote_display_name": "Alice",
               "remote_address": "192.0.2.10", "remote_port": 5060, "location": "Local", "node_ip": "127.0.0.1"})
        .as_object()
        .unwrap(),
    )
}

fn stored() -> Value {
    json!({"name": "Room", "tag": "", "service_type": "conference", "pin": "", "allow_guests": false})
}

/// Per-call decision times (µs): service, plus participant when enabled.
async fn run(label: &str, policy: &NodePolicy, calls: usize, baseline: Option<f64>) -> f64 {
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let info = call(i);
        let started = Instant::now();
        let d = policy::decide_service(policy, &info, Duration::from_secs(5), || async { Ok(Some(stored())) }).await.expect("decision");
        let ServiceDecision::Service(s) = d else { panic!("{label}: {d:?}") };
        let p = policy::decide_participant(policy, &info, &s, Duration::from_secs(5)).await;
        assert!(matches!(p, ParticipantDecision::Admit(_)), "{label}: {p:?}");
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    let extra = baseline.map(|b| format!(", +{:.0} µs over no policy", mean - b)).unwrap_or_default();
    println!("{label}: mean {mean:.0} µs, median {:.0} µs, p99 {p99:.0} µs per call{extra}", times[times.len() / 2]);
    println!("| {label} | {mean:.0} µs | {p99:.0} µs |");
    mean
}

fn profile(url: &str) -> PolicyProfile {
    PolicyProfile { name: "bench".into(), url: url.into(), ..Default::default() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls = args.iter().position(|a| a == "--calls").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(2000usize);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fast = PolicyServer::start(|r| {
        if r.path.ends_with("/service/configuration") {
            Reply::json(json!({"status": "success", "action": "continue",
                "result": {"name": format!("Policy {}", r.param("local_alias").unwrap_or("")), "service_tag": "p", "service_type": "conference"}}))
        } else {
            Reply::json(json!({"status": "success", "action": "continue", "result": {"remote_display_name": "Renamed"}}))
        }
    });
    let node = NodeIdentity { location: "Local".into(), node_ip: "127.0.0.1".into() };
    rt.block_on(async {
        println!("{calls} calls each, one at a time, on one thread (as a node's actor runtime):");
        let none = NodePolicy { node: node.clone(), profile: None };
        let base = run("no policy (database look-up stub)", &none, calls, None).await;
        let ext = NodePolicy { node: node.clone(), profile: Some(PolicyProfile { enable_service_lookup: true, ..profile(&fast.url) }) };
        run("external service policy", &ext, calls, Some(base)).await;
        let both = NodePolicy {
            node: node.clone(),
            profile: Some(PolicyProfile { enable_service_lookup: true, enable_participant_lookup: true, ..profile(&fast.url) }),
        };
        run("external service + participant policy", &both, calls, Some(base)).await;
        let loc = NodePolicy {
            node: node.clone(),
            profile: Some(PolicyProfile {
                enable_internal_service_policy: true,
                internal_service_policy_template: local::DEFAULT_SERVICE_SCRIPT.into(),
                ..profile("")
            }),
        };
        run("local service policy (default script)", &loc, calls, Some(base)).await;
        let all = NodePolicy {
            node: node.clone(),
            profile: Some(PolicyProfile {
                enable_service_lookup: true,
                enable_internal_service_policy: true,
                internal_service_policy_template: local::DEFAULT_SERVICE_SCRIPT.into(),
                ..profile(&fast.url)
            }),
        };
        run("external + local service policy", &all, calls, Some(base)).await;
    });
    println!("requests the policy server answered: {}", fast.recorded().len());

    // Concurrency: a slow server (200 ms per answer) and 200 calls at once on one thread.
    let slow = PolicyServer::start(|_| Reply::json(json!({"status": "success", "action": "continue"})).after(Duration::from_millis(200)));
    let policy = NodePolicy { node, profile: Some(PolicyProfile { enable_service_lookup: true, ..profile(&slow.url) }) };
    rt.block_on(async {
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..200 {
            let policy = policy.clone();
            set.spawn(async move { policy::decide_service(&policy, &call(i), Duration::from_secs(5), || async { Ok(Some(stored())) }).await });
        }
        let mut done = 0;
        while let Some(r) = set.join_next().await {
            assert!(matches!(r, Ok(Ok(ServiceDecision::Service(_)))), "{r:?}");
            done += 1;
        }
        assert_eq!(done, 200);
        let secs = started.elapsed().as_secs_f64();
        println!("200 concurrent calls against a policy server taking 200 ms each: all decided in {secs:.2} s on one thread (serialised would be 40 s)");
    });
}
