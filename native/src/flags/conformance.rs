//! Unleash's client specification (github.com/Unleash/client-specification, Apache-2.0: see
//! `testdata/LICENSE`), files 01-18, 21 and 22 (19 and 20 test the delta API, which Hearth does
//! not serve): every `tests` case (isEnabled) and every `variantTests` case (name, payload,
//! enabled, feature_enabled), each checked twice — through the typed API and through the JSON
//! that `evaluate` writes. Nothing is skipped.

use serde_json::{json, Value};

use super::{Context, Defaults, FlagSet};

/// Run one specification file; returns (isEnabled cases, variant cases).
fn run(file: &str, text: &str) -> (usize, usize) {
    let spec: Value = serde_json::from_str(text).expect(file);
    let state = serde_json::to_vec(&spec["state"]).unwrap();
    let set = FlagSet::with_hostname(&state, "spec-host").unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut failures = Vec::new();
    let evaluate_all = |context: &Value| -> Value {
        let body = serde_json::to_vec(&json!({ "context": context })).unwrap();
        let mut out = Vec::new();
        set.evaluate(&body, Defaults::default(), &mut out).unwrap();
        serde_json::from_slice(&out).expect("evaluate writes JSON")
    };
    let find = |all: &Value, name: &str| -> Option<Value> {
        all["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == name)
            .cloned()
    };
    let tests = spec["tests"].as_array().cloned().unwrap_or_default();
    for case in &tests {
        let name = case["toggleName"].as_str().unwrap();
        let want = case["expectedResult"].as_bool().unwrap();
        let body = serde_json::to_vec(&json!({ "context": case["context"] })).unwrap();
        let ctx = Context::from_body(&body, Defaults::default()).unwrap();
        let typed = set.is_enabled(name, &ctx);
        let wire =
            find(&evaluate_all(&case["context"]), name).is_some_and(|f| f["enabled"] == true);
        if typed != want || wire != want {
            failures.push(format!(
                "{}: typed {typed}, wire {wire}, want {want}",
                case["description"]
            ));
        }
    }
    let variant_tests = spec["variantTests"].as_array().cloned().unwrap_or_default();
    for case in &variant_tests {
        let name = case["toggleName"].as_str().unwrap();
        let want = &case["expectedResult"];
        let body = serde_json::to_vec(&json!({ "context": case["context"] })).unwrap();
        let ctx = Context::from_body(&body, Defaults::default()).unwrap();
        let v = set.variant(name, &ctx);
        let typed = json!({
            "name": v.name,
            "enabled": v.enabled,
            "feature_enabled": v.feature_enabled,
            "payload": v.payload_json.as_deref().map(|p| serde_json::from_str::<Value>(p).unwrap()),
        });
        let wire = match find(&evaluate_all(&case["context"]), name) {
            Some(f) => json!({
                "name": f["variant"],
                "enabled": f["variant"] != "disabled",
                "feature_enabled": f["enabled"],
                "payload": f.get("payload").cloned(),
            }),
            None => {
                json!({"name": "disabled", "enabled": false, "feature_enabled": false, "payload": null})
            }
        };
        let expected = json!({
            "name": want["name"],
            "enabled": want["enabled"],
            "feature_enabled": want["feature_enabled"],
            "payload": want.get("payload").cloned(),
        });
        if typed != expected || wire != expected {
            failures.push(format!(
                "{}: typed {typed}, wire {wire}, want {expected}",
                case["description"]
            ));
        }
    }
    let counts = (tests.len(), variant_tests.len());
    println!(
        "{file}: {} isEnabled + {} variant cases",
        counts.0, counts.1
    );
    assert!(counts.0 + counts.1 > 0, "{file} has no cases");
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases failed:\n{}",
        failures.len(),
        counts.0 + counts.1,
        failures.join("\n")
    );
    counts
}

macro_rules! spec_test {
    ($name:ident, $file:literal) => {
        #[test]
        fn $name() {
            run($file, include_str!(concat!("testdata/", $file)));
        }
    };
}

spec_test!(f01, "01-simple-examples.json");
spec_test!(f02, "02-user-with-id-strategy.json");
spec_test!(f03, "03-gradual-rollout-user-id-strategy.json");
spec_test!(f04, "04-gradual-rollout-session-id-strategy.json");
spec_test!(f05, "05-gradual-rollout-random-strategy.json");
spec_test!(f06, "06-remote-address-strategy.json");
spec_test!(f07, "07-multiple-strategies.json");
spec_test!(f08, "08-variants.json");
spec_test!(f09, "09-strategy-constraints.json");
spec_test!(f10, "10-flexible-rollout-strategy.json");
spec_test!(f11, "11-strategy-constraints-edge-cases.json");
spec_test!(f12, "12-custom-stickiness.json");
spec_test!(f13, "13-constraint-operators.json");
spec_test!(f14, "14-constraint-semver-operators.json");
spec_test!(f15, "15-global-constraints.json");
spec_test!(f16, "16-strategy-variants.json");
spec_test!(f17, "17-dependent-features.json");
spec_test!(f18, "18-utf8-flag-names.json");
spec_test!(f21, "21-regex-constraint-operators.json");
spec_test!(f22, "22-cidr-constraint-operators.json");

#[test]
fn the_specification_is_all_there() {
    let mut names: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/flags/testdata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .map(|n| n[..2].to_owned())
            .collect();
    names.sort();
    let want: Vec<String> = (1..=18)
        .chain([21, 22])
        .map(|i| format!("{i:02}"))
        .collect();
    assert_eq!(names, want);
}
