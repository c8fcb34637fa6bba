//! Section 5: partition heat. DynamoDB Local never throttles, so this is a model of DynamoDB's per-partition
//! limits: a sign-in workload (login + verify of distinct new numbers in a few countries, one group created per ten
//! sign-ins) runs through the handlers with every DynamoDB call recorded; each call's capacity is put on the
//! partition keys it touches (table and GSI1); and each key's load per second is scaled to 1,000 and 10,000
//! sign-ins/s. A key touched by one sign-in (a number's code, profile, token) gets its units once whatever the rate;
//! a key many sign-ins share (a country's SMS counter, the budget) gets its share of every second's sign-ins; a
//! split counter's shards share that evenly. One item never leaves its partition, so a key over 1,000 WCU/s or
//! 3,000 RCU/s is throttled however the table is split.
//!
//! "Before" is the same replay with the layout before issue 15: every split counter in one item, and one group-id
//! counter item (`COUNTER#GROUP`, an UpdateItem ADD per group created).
//!
//! Units as on-demand DynamoDB charges them for items under 1 KB: a write 1 WCU (one more on GSI1 when the item
//! carries its key), 2 inside a transaction (a ConditionCheck counted the same); a read 1 RCU strong, 0.5 eventual.

use std::collections::{BTreeMap, BTreeSet};

use local_stack::apigw::HttpCall;
use local_stack::recorder::RecordedCall;
use serde_json::{Value, json};
use shared::{DefaultRegion, PhoneNumber};

use crate::BoxError;
use crate::scenario::{BenchApp, expect_ok, verify_call};

/// DynamoDB's most per partition, per second (Developer Guide, "warm throughput" and "burst and adaptive capacity").
pub const PARTITION_WCU: f64 = 1000.0;
pub const PARTITION_RCU: f64 = 3000.0;
pub const RATES: [f64; 2] = [1000.0, 10_000.0];
/// Sign-ins per group created.
const SIGN_INS_PER_GROUP: usize = 10;

/// Keys of one shape (`USER#<e164>`, `LIMIT#sms-budget`, …), by the hottest key of that shape.
pub struct HeatRow {
    pub shape: String,
    /// Of the sign-ins, the share that touched the hottest key of this shape (its shards together).
    pub touched_by: f64,
    /// Capacity per touch on one key.
    pub wcu_per_touch: f64,
    pub rcu_per_touch: f64,
    /// Items the key is split over, now (0: the key is gone) and before.
    pub shards: usize,
    pub shards_before: usize,
    /// Touched by more than one sign-in of the replay: by a share of every second's sign-ins. A key of one sign-in
    /// (its number's, its token's) is touched once, at any rate of distinct sign-ins.
    pub shared: bool,
}

impl HeatRow {
    /// WCU and RCU per second on the hottest key at `rate` sign-ins/s over `shards` items.
    pub fn load(&self, rate: f64, shards: usize) -> (f64, f64) {
        let touches = match self.shared {
            true => (rate * self.touched_by / shards.max(1) as f64).max(1.0),
            false => 1.0,
        };
        (touches * self.wcu_per_touch, touches * self.rcu_per_touch)
    }

    pub fn over(&self, rate: f64, shards: usize) -> bool {
        let (wcu, rcu) = self.load(rate, shards);
        wcu > PARTITION_WCU || rcu > PARTITION_RCU
    }

    /// The sign-in rate at which the hottest key reaches a partition limit (`None`: a key of one sign-in, which no
    /// rate of distinct sign-ins heats).
    pub fn limit(&self, shards: usize) -> Option<f64> {
        if !self.shared {
            return None;
        }
        let per_sign_in_wcu = self.wcu_per_touch * self.touched_by / shards as f64;
        let per_sign_in_rcu = self.rcu_per_touch * self.touched_by / shards as f64;
        let by_wcu = PARTITION_WCU / per_sign_in_wcu.max(f64::MIN_POSITIVE);
        let by_rcu = PARTITION_RCU / per_sign_in_rcu.max(f64::MIN_POSITIVE);
        Some(by_wcu.min(by_rcu))
    }
}

pub struct PartitionFigures {
    pub sign_ins: usize,
    pub groups: usize,
    pub countries: Vec<u16>,
    pub rows: Vec<HeatRow>,
}

/// A mobile number of one of four countries, at random (a US one where the generated candidates fail the parser).
fn number_of(country: usize) -> PhoneNumber {
    let region = DefaultRegion::from_iso("US").expect("US is a region");
    for _ in 0..100 {
        let digits = local_stack::harness::random_hex(8);
        let digits: String = digits.bytes().map(|b| char::from(b'0' + b % 10)).collect();
        let candidate = match country {
            0 => return local_stack::harness::random_phone(),
            1 => format!("+447911{}", &digits[..6]),
            2 => format!("+9198{digits}"),
            _ => format!("+49151{digits}"),
        };
        if let Some(phone) = PhoneNumber::parse(&candidate, region).filter(PhoneNumber::receives_sms_codes) {
            return phone;
        }
    }
    local_stack::harness::random_phone()
}

/// The workload, recorded: per sign-in, the DynamoDB calls of its login, verify and (one in ten) group creation.
pub async fn run(scale: f64) -> Result<PartitionFigures, BoxError> {
    let sign_ins = ((400.0 * scale).ceil() as usize).max(40);
    let table = format!("bench-partitions-{}", local_stack::harness::random_hex(4));
    let bench = BenchApp::new(&table).await?;
    let mut per_sign_in: Vec<Vec<RecordedCall>> = vec![];
    let mut countries = BTreeSet::new();
    for i in 0..sign_ins {
        let phone = number_of(i % 4);
        countries.insert(phone.calling_code());
        bench.calls.reset();
        // Each from an address of its own, as a mass re-login comes: one address's counter is its own key.
        let address = format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256);
        let code = bench.request_code_from(&phone, &address).await?;
        let reply = bench.call(HttpCall { source_ip: address, ..verify_call(&phone, &code) }).await;
        expect_ok("verify", &reply)?;
        if i % SIGN_INS_PER_GROUP == 0 {
            let token = reply.json["token"].as_str().ok_or("verify answered no token")?;
            let group = bench.call(HttpCall::post("/setgroup").bearer(token).json(&json!({ "name": "Bench" }))).await;
            expect_ok("setgroup", &group)?;
        }
        per_sign_in.push(bench.calls.take());
    }
    let groups = sign_ins.div_ceil(SIGN_INS_PER_GROUP);
    Ok(PartitionFigures { sign_ins, groups, countries: countries.into_iter().collect(), rows: heat(&per_sign_in) })
}

#[derive(Default)]
struct KeyUse {
    wcu: f64,
    rcu: f64,
    touched_by: BTreeSet<usize>,
}

fn heat(per_sign_in: &[Vec<RecordedCall>]) -> Vec<HeatRow> {
    let mut keys: BTreeMap<String, KeyUse> = BTreeMap::new();
    for (i, calls) in per_sign_in.iter().enumerate() {
        for (key, wcu, rcu) in calls.iter().flat_map(key_units) {
            let used = keys.entry(key).or_default();
            (used.wcu, used.rcu) = (used.wcu + wcu, used.rcu + rcu);
            used.touched_by.insert(i);
        }
    }
    // A split counter's shards (`<key>#<n>` beside `<key>`) are one family.
    let family_of = |key: &str| match key.rsplit_once('#') {
        Some((base, n)) if key.starts_with("LIMIT#") && n.parse::<u32>().is_ok() && keys.contains_key(base) => {
            base.to_owned()
        }
        _ => key.to_owned(),
    };
    let mut families: BTreeMap<String, (KeyUse, usize)> = BTreeMap::new();
    for (key, used) in &keys {
        let (family, shards) = families.entry(family_of(key)).or_default();
        (family.wcu, family.rcu) = (family.wcu + used.wcu, family.rcu + used.rcu);
        family.touched_by.extend(&used.touched_by);
        *shards += 1;
    }
    let total = per_sign_in.len() as f64;
    let mut rows: BTreeMap<String, HeatRow> = BTreeMap::new();
    for (family, (used, shards)) in families {
        let touches = used.touched_by.len() as f64;
        let row = HeatRow {
            shape: shape(&family, shards > 1),
            touched_by: touches / total,
            wcu_per_touch: used.wcu / touches,
            rcu_per_touch: used.rcu / touches,
            shards,
            shards_before: 1,
            shared: touches > 1.0,
        };
        let hotter = |old: &HeatRow| row.load(RATES[1], 1) > old.load(RATES[1], 1);
        if rows.get(&row.shape).is_none_or(hotter) {
            rows.insert(row.shape.clone(), row);
        }
    }
    // The group-id counter before: one UpdateItem ADD per group, all on one item.
    let groups = per_sign_in.iter().step_by(SIGN_INS_PER_GROUP).count() as f64;
    rows.insert(
        "COUNTER#GROUP".into(),
        HeatRow {
            shape: "COUNTER#GROUP".into(),
            touched_by: groups / total,
            wcu_per_touch: 1.0,
            rcu_per_touch: 0.0,
            shards: 0,
            shards_before: 1,
            shared: true,
        },
    );
    let mut rows: Vec<HeatRow> = rows.into_values().collect();
    rows.sort_by(|a, b| b.load(RATES[1], b.shards_before).0.total_cmp(&a.load(RATES[1], a.shards_before).0));
    rows
}

/// A key with its per-person and per-thing parts named (`USER#<e164>`, `CODE#<name>`, `LIMIT#country-sms#<cc>`).
fn shape(key: &str, split: bool) -> String {
    let (index, key) = key.strip_prefix("GSI1 ").map_or(("", key), |k| ("GSI1 ", k));
    let mut parts = key.split('#');
    let mut shaped = vec![parts.next().unwrap_or_default().to_owned()];
    for part in parts {
        shaped.push(match part {
            p if p.starts_with('+') => "<e164>".into(),
            p if p.len() >= 16 && !p.contains('-') => "<keyed name or hash>".into(),
            p if p.parse::<u64>().is_ok() && shaped[0] == "GROUP" => "<gid>".into(),
            p if p.parse::<u64>().is_ok() && shaped.last().is_some_and(|l| l == "country-sms") => "<cc>".into(),
            p => p.into(),
        });
    }
    let shard = if split { "[#<shard>]" } else { "" };
    format!("{index}{}{shard}", shaped.join("#"))
}

/// The partition keys one call touches, with the WCU and RCU it puts on each.
fn key_units(call: &RecordedCall) -> Vec<(String, f64, f64)> {
    let Some(body) = call.request.as_ref().and_then(|r| serde_json::from_slice::<Value>(&r.body).ok()) else {
        return vec![];
    };
    let pk = |item: &Value| item["PK"]["S"].as_str().map(str::to_owned);
    let mut out = vec![];
    let mut write = |item: &Value, units: f64| {
        out.extend(pk(item).map(|k| (k, units, 0.0)));
        out.extend(item["GSI1PK"]["S"].as_str().map(|k| (format!("GSI1 {k}"), 1.0, 0.0)));
    };
    let read = |consistent: bool| if consistent { 1.0 } else { 0.5 };
    match call.operation.as_str() {
        "PutItem" => write(&body["Item"], 1.0),
        "UpdateItem" | "DeleteItem" => write(&body["Key"], 1.0),
        "TransactWriteItems" => {
            for step in body["TransactItems"].as_array().into_iter().flatten() {
                if let Some(put) = step.get("Put") {
                    write(&put["Item"], 2.0);
                }
                for kind in ["Update", "Delete", "ConditionCheck"] {
                    if let Some(step) = step.get(kind) {
                        write(&step["Key"], 2.0);
                    }
                }
            }
        }
        "BatchWriteItem" => {
            for request in body["RequestItems"].as_object().into_iter().flat_map(|t| t.values()).flat_map(list) {
                write(&request["PutRequest"]["Item"], 1.0);
                write(&request["DeleteRequest"]["Key"], 1.0);
            }
        }
        "GetItem" => {
            let units = read(body["ConsistentRead"].as_bool() == Some(true));
            out.extend(pk(&body["Key"]).map(|k| (k, 0.0, units)));
        }
        "BatchGetItem" => {
            for table in body["RequestItems"].as_object().into_iter().flat_map(|t| t.values()) {
                let units = read(table["ConsistentRead"].as_bool() == Some(true));
                out.extend(list(&table["Keys"]).filter_map(pk).map(|k| (k, 0.0, units)));
            }
        }
        "Query" => {
            let condition = body["KeyConditionExpression"].as_str().unwrap_or_default();
            let index = if body["IndexName"].as_str().is_some() { "GSI1 " } else { "" };
            let value = condition.split(" AND ").next().and_then(|c| c.split_once('=')).map(|(_, v)| v.trim());
            let key = value.and_then(|v| body["ExpressionAttributeValues"][v]["S"].as_str());
            let units = read(body["ConsistentRead"].as_bool() == Some(true));
            out.extend(key.map(|k| (format!("{index}{k}"), 0.0, units)));
        }
        _ => {}
    }
    out
}

fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}
