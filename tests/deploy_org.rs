//! Checks on the organisation templates (`deploy/central.yaml`, `deploy/member.yaml`) that
//! cfn-lint and `sam validate` cannot make:
//!
//! 1. **IAM, exactly.** Every role and user in both templates is known here, and each grants
//!    exactly the (action, resource) pairs listed: the sanitizer reads the one stream, writes the
//!    sanitized group (and its own logs), reads the pseudonym secret, reports to the failure
//!    queue; CloudWatch Logs' role puts records into the one stream; the member's subscription
//!    role delivers to the one destination; the writer puts into the one raw stream. No wildcard
//!    action, no managed policy, no `*` resource (but bearer-token use itself).
//! 2. **Wiring.** The event source mapping reports partial batch failures, bisects, bounds its
//!    retries and record age, sends failures to the queue and takes its parallelisation factor
//!    from a parameter; the destination policy and the account-level policy document are valid
//!    JSON once substituted and say what they must; the account-level policy excludes the
//!    sanitized and function groups; the central dashboard and saved queries read only fields
//!    the sanitizer writes.
//!
//! Templates are read as `tests/deploy_template.rs` reads `template.yaml` (saphyr, short-form tags
//! turned into the long form), then evaluated for a chosen set of parameters: `Ref`, `Fn::Sub`,
//! `Fn::Join`, `Fn::Split`, `Fn::If`, `Fn::FindInMap`, with resources and attributes left as
//! placeholders (`{Name}`, `{Name.Attr}`).

mod cfn;

use cfn::{
    ACCOUNT, Grants, READER, REGION, Stack, assert_exact, check_exact, grants, identities, lake_policy_problems,
    parse_template, referenced_fields, resources, sanitizer_output_paths, trust,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CENTRAL: &str = include_str!("../deploy/central.yaml");
const MEMBER: &str = include_str!("../deploy/member.yaml");

fn logs_arn(rest: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:{rest}")
}

const MEMBERS: [&str; 2] = ["111111111111", "222222222222"];

fn central_for_accounts() -> Stack {
    Stack::new(CENTRAL, &[("MemberAccountIds", json!(MEMBERS))])
}

fn central_for_organisation() -> Stack {
    Stack::new(CENTRAL, &[("OrganizationId", json!("o-abcdefghij"))])
}

fn central_function_grants() -> Grants {
    let stream = "{RawEventsStream.Arn}";
    let sanitized = logs_arn("log-group:{SanitizedLogGroup}:*");
    let own = logs_arn("log-group:{FunctionLogGroup}:*");
    grants(&[
        ("kinesis:DescribeStream", stream),
        ("kinesis:DescribeStreamSummary", stream),
        ("kinesis:GetRecords", stream),
        ("kinesis:GetShardIterator", stream),
        ("kinesis:ListShards", stream),
        ("logs:CreateLogStream", &sanitized),
        ("logs:PutLogEvents", &sanitized),
        ("logs:CreateLogStream", &own),
        ("logs:PutLogEvents", &own),
        ("secretsmanager:GetSecretValue", "{PseudonymKeySecret}"),
        ("sqs:SendMessage", "{FailureQueue.Arn}"),
    ])
}

#[test]
fn central_roles_grant_exactly_what_they_are_for() {
    for stack in [central_for_accounts(), central_for_organisation()] {
        assert_eq!(
            identities(&stack),
            ["SanitizerRole", "LogsToStreamRole", "LakeDeliveryRole", "LakeSubscriptionRole"].map(String::from).into()
        );
        assert_exact(&stack, "SanitizerRole", &central_function_grants());
        assert_exact(&stack, "LogsToStreamRole", &grants(&[("kinesis:PutRecord", "{RawEventsStream.Arn}")]));
        assert_eq!(trust(&stack, "SanitizerRole")["Principal"], json!({"Service": "lambda.amazonaws.com"}));
        assert_eq!(trust(&stack, "LogsToStreamRole")["Principal"], json!({"Service": "logs.amazonaws.com"}));

        let function = stack.properties("SanitizerFunction");
        assert_eq!(function["Role"], "{SanitizerRole.Arn}");
        assert!(function["Policies"].is_null(), "permissions live in SanitizerRole");
        assert_eq!(function["Environment"]["Variables"]["SANITIZED_LOG_GROUP"], "{SanitizedLogGroup}");
        assert_eq!(function["Environment"]["Variables"]["PSEUDONYM_KEY_SECRET_ARN"], "{PseudonymKeySecret}");
        assert_eq!(function["LoggingConfig"]["LogGroup"], "{FunctionLogGroup}");
        assert_eq!(function["CodeUri"], "..", "the function is this crate, built as for template.yaml");
    }
}

#[test]
fn logs_role_is_trusted_only_for_this_account_and_the_members() {
    let by_accounts = trust(&central_for_accounts(), "LogsToStreamRole");
    let expected: Vec<String> =
        std::iter::once(logs_arn("*")).chain(MEMBERS.iter().map(|m| format!("arn:*:logs:*:{m}:*"))).collect();
    assert_eq!(by_accounts["Condition"], json!({"StringLike": {"aws:SourceArn": expected}}));
    let by_org = trust(&central_for_organisation(), "LogsToStreamRole");
    assert_eq!(by_org["Condition"], json!({"StringLike": {"aws:SourceArn": format!("arn:aws:logs:{REGION}:*:*")}}));
}

#[test]
fn member_identities_grant_exactly_what_they_are_for() {
    let destination = format!("arn:aws:logs:{REGION}:{ACCOUNT}:destination:claude-otel-sanitizer");
    let raw_stream = logs_arn("log-group:{RawLogGroup}:log-stream:{RawLogStream}");
    let writer = grants(&[("logs:PutLogEvents", &raw_stream), ("logs:CallWithBearerToken", "*")]);
    for (role, scope) in [("false", "LOG_GROUP"), ("true", "LOG_GROUP"), ("false", "ACCOUNT"), ("true", "ACCOUNT")] {
        let stack = Stack::new(
            MEMBER,
            &[
                ("CentralDestinationArn", json!(destination)),
                ("CreateSubscriptionRole", json!(role)),
                ("SubscriptionScope", json!(scope)),
            ],
        );
        let mut expected = BTreeSet::from(["OtelWriterUser".to_string()]);
        if role == "true" {
            expected.insert("SubscriptionRole".to_string());
            assert_exact(&stack, "SubscriptionRole", &grants(&[("logs:PutLogEvents", &destination)]));
            let t = trust(&stack, "SubscriptionRole");
            assert_eq!(t["Principal"], json!({"Service": "logs.amazonaws.com"}));
            assert_eq!(t["Condition"], json!({"StringLike": {"aws:SourceArn": logs_arn("*")}}));
        }
        assert_eq!(identities(&stack), expected, "identities for CreateSubscriptionRole={role}");
        assert_exact(&stack, "OtelWriterUser", &writer);
    }
    let no_writer = Stack::new(
        MEMBER,
        &[("CentralDestinationArn", json!(destination)), ("EnableBearerTokenWriter", json!("false"))],
    );
    assert!(identities(&no_writer).is_empty());
}

/// The exact check fails on each kind of widening (so it is not vacuous).
#[test]
fn iam_check_rejects_widening() {
    let widen = |edit: &dyn Fn(&mut Value)| {
        let mut stack = central_for_accounts();
        edit(&mut stack.t);
        check_exact(&stack, "SanitizerRole", &central_function_grants()).expect_err("the check must reject this")
    };
    let p = widen(&|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"]
            .as_array_mut()
            .expect("actions")
            .push(json!("kinesis:*"))
    });
    assert!(p.iter().any(|m| m.contains("wildcard action kinesis:*")), "{p:?}");
    let p = widen(&|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"] =
            json!("*")
    });
    assert!(p.iter().any(|m| m.contains("on resource *")), "{p:?}");
    let p = widen(&|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Action"]
            .as_array_mut()
            .expect("actions")
            .push(json!("logs:DeleteLogGroup"))
    });
    assert!(p.iter().any(|m| m.contains("logs:DeleteLogGroup")), "{p:?}");
    let p = widen(&|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["ManagedPolicyArns"] =
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"])
    });
    assert!(p.iter().any(|m| m.contains("ManagedPolicyArns")), "{p:?}");
    let p = widen(&|t| {
        t["Resources"]["Sneaky"] = json!({"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "sneaky", "Roles": [{"Ref": "SanitizerRole"}],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}}})
    });
    assert!(p.iter().any(|m| m.contains("Sneaky attaches")), "{p:?}");
    let p = widen(&|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"] =
            json!("arn:aws:kinesis:eu-west-1:999999999999:stream/other")
    });
    assert!(p.iter().any(|m| m.contains("beyond the allowed set") && m.contains("stream/other")), "{p:?}");
}

// ------------------------------------------------------------------ wiring

#[test]
fn event_source_mapping_reports_partial_failures_with_bounded_retries() {
    let stack = central_for_accounts();
    let esm = stack.properties("StreamEventSourceMapping");
    assert_eq!(esm["EventSourceArn"], "{RawEventsStream.Arn}");
    assert_eq!(esm["FunctionName"], "{SanitizerFunction}");
    assert_eq!(esm["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(esm["BisectBatchOnFunctionError"], true);
    assert_eq!(esm["DestinationConfig"]["OnFailure"]["Destination"], "{FailureQueue.Arn}");
    assert_eq!(esm["StartingPosition"], "TRIM_HORIZON", "records written before the mapping existed are read");
    let raw = &resources(&stack.t)["StreamEventSourceMapping"]["Properties"];
    let params = &stack.t["Parameters"];
    assert_eq!(raw["ParallelizationFactor"], json!({"Ref": "ParallelizationFactor"}));
    assert_eq!(
        (params["ParallelizationFactor"]["MinValue"].as_i64(), params["ParallelizationFactor"]["MaxValue"].as_i64()),
        (Some(1), Some(10))
    );
    // Bounded: no "-1" (infinite) retries or age.
    for (property, parameter, max) in [
        ("MaximumRetryAttempts", "MaximumRetryAttempts", 10_000),
        ("MaximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds", 604_800),
    ] {
        assert_eq!(raw[property], json!({"Ref": parameter}));
        let p = &params[parameter];
        let (min, max_value) = (p["MinValue"].as_i64().expect("MinValue"), p["MaxValue"].as_i64().expect("MaxValue"));
        assert!(min >= 0 && max_value <= max, "{parameter} is bounded: {min}..={max_value}");
        let default = p["Default"].as_i64().expect("Default");
        assert!((min..=max_value).contains(&default));
    }
    let stream = stack.properties("RawEventsStream");
    assert_eq!(stream["StreamModeDetails"]["StreamMode"], "ON_DEMAND", "on-demand by default");
    assert!(stream["ShardCount"].is_null(), "an on-demand stream has no shard count");
    assert_eq!(stream["StreamEncryption"]["EncryptionType"], "KMS");
    let provisioned =
        Stack::new(CENTRAL, &[("MemberAccountIds", json!(MEMBERS)), ("StreamMode", json!("PROVISIONED"))]);
    assert_eq!(provisioned.properties("RawEventsStream")["ShardCount"], 2);
}

#[test]
fn destination_policy_is_valid_json_naming_the_senders() {
    let destination_arn = format!("arn:aws:logs:{REGION}:{ACCOUNT}:destination:claude-otel-sanitizer");
    for (stack, by_org) in [(central_for_accounts(), false), (central_for_organisation(), true)] {
        let d = stack.properties("OrgDestination");
        assert_eq!(d["TargetArn"], "{RawEventsStream.Arn}");
        assert_eq!(d["RoleArn"], "{LogsToStreamRole.Arn}");
        assert_eq!(
            format!("arn:aws:logs:{REGION}:{ACCOUNT}:destination:{}", d["DestinationName"].as_str().unwrap()),
            destination_arn
        );
        let policy: Value = serde_json::from_str(d["DestinationPolicy"].as_str().expect("policy string"))
            .unwrap_or_else(|e| panic!("DestinationPolicy is not JSON once substituted: {e}"));
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1);
        let s = &statements[0];
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Action"], json!(["logs:PutSubscriptionFilter", "logs:PutAccountPolicy"]));
        assert_eq!(s["Resource"], destination_arn.as_str());
        if by_org {
            assert_eq!(s["Principal"], "*");
            assert_eq!(s["Condition"], json!({"StringEquals": {"aws:PrincipalOrgID": ["o-abcdefghij"]}}));
        } else {
            assert_eq!(s["Principal"], json!({"AWS": MEMBERS}));
            assert!(s["Condition"].is_null());
        }
    }
}

fn member(scope: &str, role: &str) -> Stack {
    Stack::new(
        MEMBER,
        &[
            (
                "CentralDestinationArn",
                json!(format!("arn:aws:logs:{REGION}:{ACCOUNT}:destination:claude-otel-sanitizer")),
            ),
            ("SubscriptionScope", json!(scope)),
            ("CreateSubscriptionRole", json!(role)),
        ],
    )
}

#[test]
fn member_log_group_scope_subscribes_the_raw_group_with_an_empty_pattern() {
    for role in ["false", "true"] {
        let stack = member("LOG_GROUP", role);
        assert!(!stack.exists("AccountSubscriptionPolicy"));
        let f = stack.properties("RawSubscription");
        assert_eq!(f["LogGroupName"], "{RawLogGroup}");
        assert_eq!(f["FilterPattern"], "", "every raw event must reach the sanitizer");
        assert_eq!(f["DestinationArn"], stack.params["CentralDestinationArn"]);
        assert_eq!(f["RoleArn"], if role == "true" { json!("{SubscriptionRole.Arn}") } else { Value::Null });
    }
    let raw = member("LOG_GROUP", "false").properties("RawLogGroup");
    assert_eq!(raw["RetentionInDays"], 1, "the raw group keeps events one day by default");
}

/// The central stack's sanitized and function log group names for a project name.
fn central_group_names(project: &str) -> [String; 2] {
    let stack = Stack::new(CENTRAL, &[("MemberAccountIds", json!(MEMBERS)), ("ProjectName", json!(project))]);
    [
        stack.properties("SanitizedLogGroup")["LogGroupName"].as_str().unwrap().to_string(),
        stack.properties("FunctionLogGroup")["LogGroupName"].as_str().unwrap().to_string(),
    ]
}

#[test]
fn member_account_scope_excludes_the_loop_groups_and_sends_only_claude_code_events() {
    for role in ["false", "true"] {
        let stack = member("ACCOUNT", role);
        assert!(!stack.exists("RawSubscription"), "one subscription path, not two");
        let p = stack.properties("AccountSubscriptionPolicy");
        assert_eq!(p["PolicyType"], "SUBSCRIPTION_FILTER_POLICY");
        assert_eq!(p["Scope"], "ALL");
        let [sanitized, function] = central_group_names("claude-otel");
        assert_eq!(p["SelectionCriteria"], format!(r#"LogGroupName NOT IN ["{sanitized}", "{function}"]"#));
        let doc: Value = serde_json::from_str(p["PolicyDocument"].as_str().expect("document string"))
            .unwrap_or_else(|e| panic!("PolicyDocument is not JSON once substituted: {e}"));
        assert_eq!(doc["DestinationArn"], stack.params["CentralDestinationArn"]);
        assert_eq!(doc["FilterPattern"], stack.params["AccountPolicyFilterPattern"], "the pattern survives escaping");
        assert!(doc["FilterPattern"].as_str().unwrap().contains("claude_code"));
        assert_eq!(doc["RoleArn"], if role == "true" { json!("{SubscriptionRole.Arn}") } else { Value::Null });
    }
}

#[test]
fn alarms_watch_the_stream_the_function_and_the_delivery() {
    let stack = central_for_accounts();
    let mut watched = BTreeSet::new();
    for (name, r) in resources(&stack.t) {
        if r["Type"] == "AWS::CloudWatch::Alarm" && stack.exists(name) {
            let p = stack.properties(name);
            assert_eq!(p["AlarmActions"], json!(["{AlarmTopic}"]), "{name} notifies the alarm topic");
            watched.insert(p["MetricName"].as_str().unwrap_or("(math)").to_string());
        }
    }
    for metric in [
        "IteratorAge",
        "WriteProvisionedThroughputExceeded",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "PayloadErrors",
        "EventsRejected",
        "EventsDropped",
    ] {
        assert!(watched.contains(metric), "no central alarm watches {metric}");
    }
    let age = stack.properties("IteratorAgeAlarm");
    assert_eq!(age["Dimensions"], json!([{"Name": "FunctionName", "Value": "{SanitizerFunction}"}]));
    let m = member("LOG_GROUP", "false");
    let mut expressions = Vec::new();
    for (name, r) in resources(&m.t) {
        if r["Type"] == "AWS::CloudWatch::Alarm" {
            expressions.push(m.properties(name)["Metrics"][0]["Expression"].as_str().unwrap_or("").to_string());
        }
    }
    for metric in ["DeliveryErrors", "DeliveryThrottling"] {
        assert!(
            expressions.iter().any(|e| e.contains(metric) && e.contains("AWS/Logs")),
            "no member alarm on {metric}"
        );
    }
}

// ------------------------------------------------------------------ central queries

#[test]
fn central_dashboard_and_saved_queries_read_only_fields_the_sanitizer_writes() {
    let stack = central_for_accounts();
    let mut queries = Vec::new();
    for (name, r) in resources(&stack.t) {
        match r["Type"].as_str() {
            Some("AWS::Logs::QueryDefinition") => {
                let p = stack.properties(name);
                assert_eq!(p["LogGroupNames"], json!(["{SanitizedLogGroup}"]), "{name} reads the sanitized group only");
                queries.push((name.clone(), p["QueryString"].as_str().expect("query").to_string()));
            }
            Some("AWS::CloudWatch::Dashboard") => {
                let body: Value = serde_json::from_str(stack.properties(name)["DashboardBody"].as_str().expect("body"))
                    .unwrap_or_else(|e| panic!("{name}: DashboardBody is not JSON once substituted: {e}"));
                for w in body["widgets"].as_array().expect("widgets") {
                    if w["type"] == "log" {
                        let q = w["properties"]["query"].as_str().expect("query");
                        let q =
                            q.strip_prefix("SOURCE '{SanitizedLogGroup}' | ").expect("reads the sanitized group only");
                        queries.push((name.clone(), q.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(queries.len() >= 10, "the central stack keeps today's dashboard and saved queries");
    let written = sanitizer_output_paths();
    let mut read = BTreeSet::new();
    // Queries of metric lines (`filter metric = ...`, the productivity widgets) read the fields
    // of metric lines, not of events: tests/deploy_template.rs checks them against what metric
    // lines carry, and central's queries are template.yaml's (checked below).
    let metric = regex::Regex::new(r"^filter metric (?:=|in) ").expect("regex");
    for (origin, q) in queries.iter().filter(|(_, q)| !metric.is_match(q)) {
        for f in referenced_fields(q) {
            assert!(written.contains(&f), "{origin} reads {f}, which the sanitizer never writes for the fixtures");
            read.insert(f);
        }
    }
    for f in ["attributes.cost_usd", "attributes.user.pseudonym", "attributes.model"] {
        assert!(read.contains(f), "no central query reads {f}");
    }
}

// ------------------------------------------------------------------ the copy from template.yaml

const SINGLE_ACCOUNT: &str = include_str!("../template.yaml");

/// Central shows the single-account dashboard: its Mappings, usage dashboard, saved queries and
/// spend alarms (with their parameters and condition) are template.yaml's, as
/// `deploy/sync-from-template.py` copies them. Fails when template.yaml changed without a sync.
#[test]
fn central_copies_the_dashboard_queries_and_spend_alarms_of_template_yaml() {
    let central = parse_template(CENTRAL);
    let single = parse_template(SINGLE_ACCOUNT);
    let fix = "out of date: run deploy/sync-from-template.py";
    assert_eq!(central["Mappings"], single["Mappings"], "deploy/central.yaml Mappings {fix}");
    let copied = |section: &str, name: &str| {
        name.ends_with("QueryDefinition")
            || name == "UsageDashboard"
            || name == "OverviewDashboard"
            || (name.starts_with("DailyBudget") && name.ends_with("Alarm"))
            || (section == "Parameters" && ["DailyBudgetUSD", "MinGroupUsers"].contains(&name))
            || (section == "Conditions" && name == "HasBudget")
            // The data lake, and the scheduled digest but its log group and function (central's own).
            || (name.starts_with("Lake") && name != "LakeIsOn" && !(section == "Parameters" && name == "EnableDataLake"))
            || (name.starts_with("Digest") && !["DigestFunctionLogGroup", "DigestFunction"].contains(&name))
            || (section == "Parameters" && name == "EnableDigest")
    };
    let mut count = 0;
    for section in ["Parameters", "Conditions", "Resources"] {
        for (name, value) in single[section].as_object().expect("section") {
            if copied(section, name) {
                assert_eq!(&central[section][name], value, "deploy/central.yaml {section}.{name} {fix}");
                count += 1;
            }
        }
        for name in central[section].as_object().expect("section").keys() {
            if copied(section, name) {
                assert!(
                    single[section].get(name).is_some(),
                    "deploy/central.yaml {section}.{name} is not in template.yaml: {fix}"
                );
            }
        }
    }
    assert!(count >= 10, "the dashboard, the saved queries and the spend alarms are copied");
}

// ------------------------------------------------------------------ the data lake and the digest

/// Central keeps the lake whatever its parameters say, with template.yaml's roles and bucket
/// policy (checked exactly and by what they allow), and its scheduled digest reads the lake.
#[test]
fn central_keeps_the_lake_and_its_digest_reads_it() {
    let t = parse_template(CENTRAL);
    assert_eq!(t["Parameters"]["EnableDataLake"]["Default"], "true");
    assert_eq!(
        t["Rules"]["LakeIsOn"]["Assertions"][0]["Assert"],
        json!({"Fn::Equals": [{"Ref": "EnableDataLake"}, "true"]}),
        "a rule refuses a central stack without the lake"
    );
    let bucket = "{LakeBucket.Arn}";
    let log = logs_arn("log-group:{LakeDeliveryLogGroup}:log-stream:{LakeDeliveryLogStream}");
    for (digest, readers) in [(false, vec![]), (true, vec![READER])] {
        let stack = Stack::new(
            CENTRAL,
            &[
                ("MemberAccountIds", json!(MEMBERS)),
                ("EnableDigest", json!(digest.to_string())),
                ("LakeReaderArns", json!(readers)),
            ],
        );
        assert_exact(
            &stack,
            "LakeDeliveryRole",
            &grants(&[
                ("s3:GetBucketLocation", bucket),
                ("s3:ListBucket", bucket),
                ("s3:ListBucketMultipartUploads", bucket),
                ("s3:PutObject", "{LakeBucket.Arn}/sanitized/*"),
                ("s3:PutObject", "{LakeBucket.Arn}/errors/*"),
                ("s3:AbortMultipartUpload", "{LakeBucket.Arn}/sanitized/*"),
                ("s3:AbortMultipartUpload", "{LakeBucket.Arn}/errors/*"),
                ("logs:PutLogEvents", &log),
            ]),
        );
        assert_exact(
            &stack,
            "LakeSubscriptionRole",
            &grants(&[
                ("firehose:PutRecord", "{LakeDeliveryStream.Arn}"),
                ("firehose:PutRecordBatch", "{LakeDeliveryStream.Arn}"),
            ]),
        );
        assert_eq!(stack.properties("LakeSubscription")["LogGroupName"], "{SanitizedLogGroup}");
        let problems = lake_policy_problems(&stack);
        assert!(problems.is_empty(), "central's bucket policy:\n  {}", problems.join("\n  "));
        if digest {
            let group = |g: &str| logs_arn(&format!("log-group:{{{g}}}:*"));
            assert_exact(
                &stack,
                "DigestRole",
                &grants(&[
                    ("logs:FilterLogEvents", &group("SanitizedLogGroup")),
                    ("logs:CreateLogStream", &group("DigestFunctionLogGroup")),
                    ("logs:PutLogEvents", &group("DigestFunctionLogGroup")),
                    ("secretsmanager:GetSecretValue", "{DigestWebhookSecret}"),
                    ("logs:DescribeLogGroups", &logs_arn("log-group:*")),
                    ("s3:ListBucket", r#"{LakeBucket.Arn} if {"StringLike":{"s3:prefix":"sanitized/*"}}"#),
                    ("s3:GetObject", "{LakeBucket.Arn}/sanitized/*"),
                ]),
            );
            assert_exact(&stack, "DigestSchedulerRole", &grants(&[("lambda:InvokeFunction", "{DigestFunction.Arn}")]));
            let f = stack.properties("DigestFunction");
            assert_eq!(f["Environment"]["Variables"]["DIGEST_S3"], "s3://{LakeBucket}/sanitized");
            assert_eq!(f["Environment"]["Variables"]["DIGEST_LOG_GROUP"], "{SanitizedLogGroup}");
            assert_eq!(f["Role"], "{DigestRole.Arn}");
            assert_eq!(f["CodeUri"], "..");
            assert!(f["Policies"].is_null());
        }
    }
}
