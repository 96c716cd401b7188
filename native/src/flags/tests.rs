//! Behaviour the client specification does not cover: OFREP's values and reasons, the
//! frontend answer's shape, metadata, context defaults, state errors, and the choices made
//! where Unleash's SDKs disagree.

use serde_json::{json, Value};

use super::{Context, Defaults, FlagSet, Reason};
use crate::bucket;

fn set(features: Value) -> FlagSet {
    set_with(features, json!([]))
}

fn set_with(features: Value, segments: Value) -> FlagSet {
    let state = json!({"version": 2, "features": features, "segments": segments});
    FlagSet::with_hostname(state.to_string().as_bytes(), "Web-1").unwrap()
}

fn feature(name: &str, strategies: Value) -> Value {
    json!({"name": name, "enabled": true, "strategies": strategies})
}

/// `evaluate` for `context`, as a map from key to evaluation.
fn evaluate(set: &FlagSet, context: Value) -> serde_json::Map<String, Value> {
    let mut out = Vec::new();
    let body = json!({ "context": context }).to_string();
    set.evaluate(body.as_bytes(), Defaults::default(), &mut out)
        .unwrap();
    let all: Value = serde_json::from_slice(&out).unwrap();
    all["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap().to_owned(), f.clone()))
        .collect()
}

fn reason_and_value(set: &FlagSet, name: &str, context: Value) -> (String, Value) {
    let r = &evaluate(set, context)[name];
    (r["reason"].as_str().unwrap().to_owned(), r["value"].clone())
}

fn ctx(context: Value) -> Vec<u8> {
    json!({ "context": context }).to_string().into_bytes()
}

#[test]
fn reasons() {
    let s = set_with(
        json!([
            {"name": "off", "enabled": false, "strategies": [{"name": "default"}]},
            {"name": "no-strategies", "enabled": true},
            {"name": "default", "enabled": true, "strategies": [{"name": "default"}]},
            feature("full-rollout", json!([{"name": "flexibleRollout", "parameters": {"rollout": "100"}}])),
            feature("no-rollout", json!([{"name": "flexibleRollout", "parameters": {"rollout": "0"}}])),
            feature("half", json!([{"name": "flexibleRollout", "parameters": {"rollout": "50", "groupId": "g"}}])),
            feature("constrained", json!([{"name": "default", "constraints": [
                {"contextName": "plan", "operator": "IN", "values": ["gold"]}]}])),
            feature("segmented", json!([{"name": "default", "segments": [7]}])),
            feature("users", json!([{"name": "userWithId", "parameters": {"userIds": "alice, bob"}}])),
            feature("ips", json!([{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}}])),
            feature("host", json!([{"name": "applicationHostname", "parameters": {"hostNames": "db-1,WEB-1"}}])),
            feature("other-host", json!([{"name": "applicationHostname", "parameters": {"hostNames": "db-1"}}])),
            feature("custom", json!([{"name": "myCustomStrategy", "parameters": {}}])),
            {"name": "child", "enabled": true, "dependencies": [{"feature": "off"}]},
            {"name": "all-disabled", "enabled": true, "strategies": [{"name": "default", "disabled": true}]},
            {"name": "some-disabled", "enabled": true, "strategies": [
                {"name": "default", "disabled": true},
                {"name": "userWithId", "parameters": {"userIds": "carol"}}]},
        ]),
        json!([{"id": 7, "name": "s", "constraints": [
        {"contextName": "country", "operator": "IN", "values": ["NO"]}]}]),
    );
    let r = |name: &str, context: Value| reason_and_value(&s, name, context);
    let t = |reason: &str, value: bool| (reason.to_owned(), Value::Bool(value));
    assert_eq!(r("off", json!({})), t("DISABLED", false));
    assert_eq!(r("no-strategies", json!({})), t("STATIC", true));
    assert_eq!(r("default", json!({})), t("STATIC", true));
    assert_eq!(r("full-rollout", json!({})), t("STATIC", true));
    assert_eq!(r("no-rollout", json!({"userId": "u"})), t("DEFAULT", false));
    let half_in = (0..)
        .map(|i| format!("u{i}"))
        .find(|u| bucket::rollout_bucket("g", u) <= 50)
        .unwrap();
    let half_out = (0..)
        .map(|i| format!("u{i}"))
        .find(|u| bucket::rollout_bucket("g", u) > 50)
        .unwrap();
    assert_eq!(r("half", json!({"userId": half_in})), t("SPLIT", true));
    assert_eq!(r("half", json!({"userId": half_out})), t("DEFAULT", false));
    assert_eq!(
        r("constrained", json!({"plan": "gold"})),
        t("TARGETING_MATCH", true)
    );
    assert_eq!(
        r("constrained", json!({"plan": "free"})),
        t("DEFAULT", false)
    );
    assert_eq!(
        r("segmented", json!({"properties": {"country": "NO"}})),
        t("TARGETING_MATCH", true)
    );
    assert_eq!(
        r("segmented", json!({"country": "SE"})),
        t("DEFAULT", false)
    );
    assert_eq!(
        r("users", json!({"targetingKey": "bob"})),
        t("TARGETING_MATCH", true)
    );
    assert_eq!(r("users", json!({"userId": "eve"})), t("DEFAULT", false));
    assert_eq!(
        r("ips", json!({"remoteAddress": "10.1.2.3"})),
        t("TARGETING_MATCH", true)
    );
    assert_eq!(
        r("ips", json!({"remoteAddress": "11.1.2.3"})),
        t("DEFAULT", false)
    );
    assert_eq!(r("host", json!({})), t("TARGETING_MATCH", true));
    assert_eq!(r("other-host", json!({})), t("DEFAULT", false));
    assert_eq!(r("custom", json!({})), t("DEFAULT", false));
    assert_eq!(r("child", json!({})), t("DISABLED", false));
    assert_eq!(r("all-disabled", json!({})), t("DISABLED", false));
    assert_eq!(
        r("some-disabled", json!({"userId": "carol"})),
        t("TARGETING_MATCH", true)
    );
    assert_eq!(
        r("some-disabled", json!({"userId": "dave"})),
        t("DEFAULT", false)
    );
}

#[test]
fn variant_values_and_reasons() {
    let v = |name: &str, kind: &str, value: &str| json!({"name": name, "weight": 1000, "payload": {"type": kind, "value": value}});
    let one = |name: &str, variant: Value| json!({"name": name, "enabled": true, "strategies": [{"name": "default"}], "variants": [variant]});
    let s = set(json!([
        one("json", v("j", "json", r#"{"a": [1, "x"], "b": null}"#)),
        one("bad-json", v("j", "json", "{not json")),
        one("number", v("n", "number", "42.5")),
        one("not-a-number", v("n", "number", "forty")),
        one("string", v("s", "string", "hello \"world\"")),
        one("csv", v("c", "csv", "a,b,c")),
        one("bare", json!({"name": "plain", "weight": 1000})),
        {"name": "split", "enabled": true, "variants": [
            {"name": "a", "weight": 500, "stickiness": "default"},
            {"name": "b", "weight": 500, "stickiness": "default",
             "overrides": [{"contextName": "userId", "values": ["vip"]}]}]},
        {"name": "one-weighted", "enabled": true, "variants": [
            {"name": "a", "weight": 0}, {"name": "b", "weight": 100}]},
    ]));
    let all = evaluate(&s, json!({"userId": "u1"}));
    let val = |n: &str| all[n]["value"].clone();
    assert_eq!(val("json"), json!({"a": [1, "x"], "b": null}));
    assert_eq!(val("bad-json"), json!("{not json"));
    assert_eq!(val("number"), json!(42.5));
    assert_eq!(val("not-a-number"), json!("forty"));
    assert_eq!(val("string"), json!("hello \"world\""));
    assert_eq!(val("csv"), json!("a,b,c"));
    assert_eq!(val("bare"), json!("plain"));
    assert_eq!(all["bare"]["variant"], "plain");
    assert!(all["bare"].get("payload").is_none());
    assert_eq!(
        all["json"]["payload"],
        json!({"type": "json", "value": r#"{"a": [1, "x"], "b": null}"#})
    );
    assert_eq!(
        all["number"]["payload"],
        json!({"type": "number", "value": "42.5"})
    );
    // A single variant does not change the strategy's reason.
    assert_eq!(all["json"]["reason"], "STATIC");
    assert_eq!(all["split"]["reason"], "SPLIT");
    assert_eq!(all["one-weighted"]["reason"], "STATIC");
    assert_eq!(all["one-weighted"]["variant"], "b");
    let vip = evaluate(&s, json!({"userId": "vip"}));
    assert_eq!(
        (
            vip["split"]["variant"].as_str(),
            vip["split"]["reason"].as_str()
        ),
        (Some("b"), Some("TARGETING_MATCH"))
    );
    // The draw is Unleash's: murmur3("split:u1", variant seed) % 1000 + 1 against cumulative weights.
    let want = if bucket::variant_bucket("split", "u1", 1000).unwrap() <= 500 {
        "a"
    } else {
        "b"
    };
    assert_eq!(all["split"]["variant"], want);
}

#[test]
fn strategy_variants_use_the_groupid_and_stickiness() {
    let s = set(json!([{
        "name": "f", "enabled": true,
        "strategies": [
            {"name": "flexibleRollout", "parameters": {"rollout": "100", "groupId": "grp", "stickiness": "tenant"},
             "constraints": [{"contextName": "plan", "operator": "IN", "values": ["gold"]}],
             "variants": [{"name": "x", "weight": 1}, {"name": "y", "weight": 1}]},
            {"name": "default"}],
        "variants": [{"name": "feature-level", "weight": 1}],
    }]));
    for tenant in ["t1", "t2", "t3", "t4", "t5", "t6"] {
        let r = &evaluate(
            &s,
            json!({"plan": "gold", "tenant": tenant, "userId": "same"}),
        )["f"];
        let want = if bucket::variant_bucket("grp", tenant, 2).unwrap() == 1 {
            "x"
        } else {
            "y"
        };
        assert_eq!(
            (r["variant"].as_str(), r["reason"].as_str()),
            (Some(want), Some("SPLIT")),
            "{tenant}"
        );
    }
    // The second strategy matched: the feature's variants.
    let r = &evaluate(&s, json!({"plan": "free"}))["f"];
    assert_eq!(
        (r["variant"].as_str(), r["reason"].as_str()),
        (Some("feature-level"), Some("STATIC"))
    );
}

#[test]
fn metadata_is_echoed_and_names_escaped() {
    let s = set(json!([
        {"name": "with \"quotes\" ∅", "enabled": true, "metadata": {"owner": "payments", "n": [1, 2]}},
        {"name": "plain", "enabled": false, "metadata": null},
    ]));
    let all = evaluate(&s, json!({}));
    assert_eq!(
        all["with \"quotes\" ∅"]["metadata"],
        json!({"owner": "payments", "n": [1, 2]})
    );
    assert!(all["plain"].get("metadata").is_none());
    assert_eq!(
        s.names().collect::<Vec<_>>(),
        ["with \"quotes\" ∅", "plain"]
    );
    assert_eq!(s.len(), 2);
    let mut out = Vec::new();
    assert!(s
        .evaluate_one("plain", b"", Defaults::default(), &mut out)
        .unwrap());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"key":"plain","enabled":false,"variant":"disabled","value":false,"reason":"DISABLED"}"#
    );
    let mut out = Vec::new();
    assert!(!s
        .evaluate_one("missing", b"", Defaults::default(), &mut out)
        .unwrap());
    assert!(out.is_empty());
    // A bad context is reported before a missing flag.
    let err = s.evaluate_one(
        "missing",
        br#"{"context":{"userId":[]}}"#,
        Defaults::default(),
        &mut out,
    );
    assert_eq!(err.unwrap_err().path, "$.context.userId");
}

#[test]
fn frontend_shape() {
    let s = set(json!([
        {"name": "on", "enabled": true, "impressionData": true},
        {"name": "off", "enabled": false},
        {"name": "coloured", "enabled": true, "variants": [
            {"name": "red", "weight": 1, "payload": {"type": "string", "value": "#f00"}}]},
        feature("lan", json!([{"name": "remoteAddress", "parameters": {"IPs": "192.168.0.0/16"}}])),
        feature("by-session", json!([{"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "sessionId"}}])),
    ]));
    let mut out = Vec::new();
    let defaults = Defaults {
        remote_address: Some("192.168.1.9"),
        session_id: Some("s-1"),
    };
    s.frontend(b"", defaults, &mut out).unwrap();
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        got,
        json!({"toggles": [
            {"name": "on", "enabled": true, "variant": {"name": "disabled", "enabled": false, "feature_enabled": true}, "impressionData": true},
            {"name": "coloured", "enabled": true, "variant": {"name": "red", "enabled": true,
                "payload": {"type": "string", "value": "#f00"}, "feature_enabled": true}, "impressionData": false},
            {"name": "lan", "enabled": true, "variant": {"name": "disabled", "enabled": false, "feature_enabled": true}, "impressionData": false},
            {"name": "by-session", "enabled": true, "variant": {"name": "disabled", "enabled": false, "feature_enabled": true}, "impressionData": false},
        ]})
    );
    // The context's own address wins over the default.
    let mut out = Vec::new();
    s.frontend(
        &ctx(json!({"remoteAddress": "10.0.0.1"})),
        defaults,
        &mut out,
    )
    .unwrap();
    let got: Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> = got["toggles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["on", "coloured", "by-session"]);
    // Without enrichment, evaluate leaves the context as it is.
    let all = evaluate(&s, json!({}));
    assert_eq!(
        (
            all["lan"]["enabled"].as_bool(),
            all["by-session"]["enabled"].as_bool()
        ),
        (Some(false), Some(false))
    );
}

#[test]
fn yggdrasil_choices_where_sdks_disagree() {
    let c = |op: &str, value: Value| json!({"contextName": "v", "operator": op, "value": value});
    let s = set_with(
        json!([
            feature(
                "unknown-op",
                json!([{"name": "default", "constraints": [
            {"contextName": "v", "operator": "LIKE", "values": ["x"]}]}, {"name": "default"}])
            ),
            feature(
                "missing-segment",
                json!([{"name": "default", "segments": [404]}, {"name": "default"}])
            ),
            feature(
                "bad-number",
                json!([{"name": "default", "constraints": [c("NUM_GT", json!("x"))]}])
            ),
            feature(
                "v-semver",
                json!([{"name": "default", "constraints": [
            {"contextName": "v", "operator": "SEMVER_EQ", "value": "v1.0.0", "inverted": true}]}])
            ),
            feature(
                "bad-regex-inverted",
                json!([{"name": "default", "constraints": [
            {"contextName": "v", "operator": "REGEX", "value": "(", "inverted": true}]}])
            ),
            feature(
                "numeric-params",
                json!([{"name": "flexibleRollout", "parameters": {"rollout": 100, "groupId": 5}}])
            ),
            feature(
                "no-group",
                json!([{"name": "gradualRolloutUserId", "parameters": {"percentage": "100"}}])
            ),
            feature(
                "num-value",
                json!([{"name": "default", "constraints": [c("NUM_EQ", json!(3))]}])
            ),
        ]),
        json!([]),
    );
    let on = |name: &str, context: Value| evaluate(&s, context)[name]["enabled"].as_bool().unwrap();
    // Strategies yggdrasil cannot compile switch the whole feature off, other strategies too.
    assert!(!on("unknown-op", json!({"v": "x"})));
    assert!(!on("missing-segment", json!({})));
    assert!(!on("bad-number", json!({"v": "1"})));
    assert_eq!(evaluate(&s, json!({}))["unknown-op"]["reason"], "DEFAULT");
    // A v-prefixed version is false even inverted; an invalid regex is false before inversion.
    assert!(!on("v-semver", json!({"v": "2.0.0"})));
    assert!(on("bad-regex-inverted", json!({"v": "anything"})));
    // Numbers where strings belong; a rollout without groupId needs one for the user id.
    assert!(on("numeric-params", json!({"userId": "u"})));
    assert!(!on("no-group", json!({"userId": "u"})));
    assert!(on("num-value", json!({"v": 3.0})));
}

#[test]
fn dates_default_to_now() {
    let date = |op: &str, at: &str| {
        feature(
            op,
            json!([{"name": "default", "constraints": [
            {"contextName": "currentTime", "operator": op, "value": at}]}]),
        )
    };
    let s = set(json!([
        date("DATE_AFTER", "2001-01-01T00:00:00.000Z"),
        date("DATE_BEFORE", "2001-01-01T00:00:00Z")
    ]));
    let all = evaluate(&s, json!({}));
    assert_eq!(
        (
            all["DATE_AFTER"]["enabled"].as_bool(),
            all["DATE_BEFORE"]["enabled"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let all = evaluate(&s, json!({"currentTime": "2000-06-01T00:00:00+02:00"}));
    assert_eq!(
        (
            all["DATE_AFTER"]["enabled"].as_bool(),
            all["DATE_BEFORE"]["enabled"].as_bool()
        ),
        (Some(false), Some(true))
    );
}

#[test]
fn case_insensitive_string_operators_and_big_lists() {
    let many: Vec<String> = (0..500).map(|i| format!("user-{i}")).collect();
    let s = set(json!([
        feature(
            "ci",
            json!([{"name": "default", "constraints": [
            {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@EXAMPLE.com"], "caseInsensitive": true}]}])
        ),
        feature(
            "many",
            json!([{"name": "default", "constraints": [
            {"contextName": "userId", "operator": "IN", "values": many}]}])
        ),
        feature(
            "many-ids",
            json!([{"name": "userWithId", "parameters": {"userIds": many.join(",")}}])
        ),
    ]));
    let on = |name: &str, context: Value| evaluate(&s, context)[name]["enabled"].as_bool().unwrap();
    assert!(on("ci", json!({"email": "A@Example.COM"})));
    assert!(!on("ci", json!({"email": "a@example.org"})));
    assert!(
        on("many", json!({"userId": "user-377"})) && !on("many", json!({"userId": "user-500"}))
    );
    assert!(
        on("many-ids", json!({"userId": "user-0"})) && !on("many-ids", json!({"userId": "user"}))
    );
}

#[test]
fn rollouts_follow_the_bucket() {
    let s = set(json!([feature(
        "r",
        json!([{"name": "flexibleRollout",
        "parameters": {"rollout": "25", "stickiness": "userId", "groupId": "r"}}])
    )]));
    let mut inside = 0;
    for i in 0..1000 {
        let user = format!("user-{i}");
        let body = ctx(json!({"userId": user}));
        let c = Context::from_body(&body, Defaults::default()).unwrap();
        let on = s.is_enabled("r", &c);
        assert_eq!(on, bucket::rollout_bucket("r", &user) <= 25, "{user}");
        inside += usize::from(on);
    }
    assert!((200..=300).contains(&inside), "{inside}");
    // Without the stickiness field the rollout is off; default stickiness falls back to random.
    let c = Context::from_body(b"", Defaults::default()).unwrap();
    assert!(!s.is_enabled("r", &c));
    let e = s.evaluation("r", &c).unwrap();
    assert_eq!(
        (e.enabled, e.reason, e.variant.as_str()),
        (false, Reason::Default, "disabled")
    );
}

#[test]
fn state_errors_name_the_member() {
    let err = |state: &str| FlagSet::new(state.as_bytes()).unwrap_err();
    assert_eq!(err("nope").path, "$");
    assert_eq!(err("[]").path, "$");
    assert_eq!(err(r#"{"features": {}}"#).path, "$.features");
    assert_eq!(
        err(r#"{"features": [{"name": "a"}, {"enabled": true}]}"#).path,
        "$.features[1]"
    );
    assert_eq!(
        err(r#"{"features": [{"name": "a", "strategies": [{"name": 3}]}]}"#).path,
        "$.features[0]"
    );
    assert_eq!(err(r#"{"segments": [{"id": "x"}]}"#).path, "$.segments[0]");
    let dup = err(r#"{"features": [{"name": "a"}, {"name": "a"}]}"#);
    assert_eq!(
        (dup.path.as_str(), dup.message.as_str()),
        ("$.features[1].name", "duplicate feature name \"a\"")
    );
    // Lenient where SDKs are: unknown fields, nulls, no features at all.
    let ok = FlagSet::new(
        br#"{"version": 2, "query": {}, "features": [{"name": "a", "enabled": true,
        "strategies": null, "variants": null, "dependencies": null, "extra": 1,
        "stale": false, "type": "release", "project": "default"}], "segments": null}"#,
    )
    .unwrap();
    assert_eq!(ok.len(), 1);
    assert!(FlagSet::new(b"{}").unwrap().is_empty());
}
