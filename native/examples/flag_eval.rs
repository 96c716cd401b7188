//! Cost of one flag-evaluation request: 100 flags, most with constraints, segments or
//! variants, evaluated for one context (`FlagSet::evaluate` and `FlagSet::frontend`,
//! context parsing and JSON writing included).
//!
//! `cargo run --release --example flag_eval`

use std::hint::black_box;
use std::time::Instant;

use _native::flags::{Defaults, FlagSet};
use serde_json::{json, Value};

fn state() -> Value {
    let mut features = Vec::new();
    for i in 0..100 {
        let name = format!("flag-{i:03}");
        let constraints = json!([
            {"contextName": "plan", "operator": "IN", "values": ["gold", "platinum", "silver"]},
            {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com"], "caseInsensitive": true},
            {"contextName": "age", "operator": "NUM_GTE", "value": "18"},
        ]);
        let f = match i % 5 {
            0 => json!({"name": name, "enabled": true, "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "default", "groupId": name},
                 "constraints": constraints}]}),
            1 => json!({"name": name, "enabled": true, "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "userId", "groupId": name},
                 "segments": [1, 2]}]}),
            2 => json!({"name": name, "enabled": true, "strategies": [
                {"name": "default", "constraints": [
                    {"contextName": "version", "operator": "SEMVER_GTE", "value": "2.1.0"},
                    {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2024-01-01T00:00:00.000Z"}]}],
                "variants": [
                    {"name": "red", "weight": 334, "stickiness": "default", "payload": {"type": "json", "value": "{\"hex\":\"#f00\"}"}},
                    {"name": "green", "weight": 333, "stickiness": "default"},
                    {"name": "blue", "weight": 333, "stickiness": "default", "payload": {"type": "string", "value": "b"}}]}),
            3 => json!({"name": name, "enabled": true, "strategies": [
                {"name": "userWithId", "parameters": {"userIds": "alice,bob,carol,dave,user-42"}},
                {"name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "sessionId", "groupId": name},
                 "constraints": [{"contextName": "country", "operator": "NOT_IN", "values": ["XX", "YY"]}],
                 "variants": [{"name": "a", "weight": 500}, {"name": "b", "weight": 500}]}]}),
            _ => json!({"name": name, "enabled": i % 2 == 0, "strategies": [{"name": "default"}],
                "dependencies": [{"feature": "flag-000"}], "metadata": {"owner": "team-a"}}),
        };
        features.push(f);
    }
    json!({"version": 2, "features": features, "segments": [
        {"id": 1, "name": "adults", "constraints": [{"contextName": "age", "operator": "NUM_GT", "value": "17"}]},
        {"id": 2, "name": "nordics", "constraints": [{"contextName": "country", "operator": "IN", "values": ["NO", "SE", "DK", "FI", "IS"]}]},
    ]})
}

fn main() {
    let set = FlagSet::new(state().to_string().as_bytes()).unwrap();
    let body = br#"{"context": {"userId": "user-42", "sessionId": "s-9f2", "appName": "web",
        "properties": {"plan": "gold", "email": "Someone@Example.com", "age": "34", "country": "NO",
        "version": "2.3.1"}}}"#;
    let mut out = Vec::new();
    set.evaluate(body, Defaults::default(), &mut out).unwrap();
    let answer: Value = serde_json::from_slice(&out).unwrap();
    let on = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["enabled"] == true)
        .count();
    println!(
        "{} flags, {on} on for this context, answer {} bytes",
        set.len(),
        out.len()
    );
    for (what, frontend) in [("evaluate", false), ("frontend", true)] {
        let mut best = f64::MAX;
        for _round in 0..5 {
            let n = 20_000;
            let t = Instant::now();
            for _ in 0..n {
                out.clear();
                if frontend {
                    set.frontend(black_box(body), Defaults::default(), &mut out)
                        .unwrap();
                } else {
                    set.evaluate(black_box(body), Defaults::default(), &mut out)
                        .unwrap();
                }
                black_box(&out);
            }
            best = best.min(t.elapsed().as_secs_f64() / f64::from(n) * 1e6);
        }
        println!("{what}: {best:.1} µs per request (best of 5 rounds of 20,000)");
    }
}
