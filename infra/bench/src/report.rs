//! docs/BENCHMARKS.md: the figures of one run, each beside its reference and its goal.

use std::fmt::Write;

use crate::cold_start::ColdStartFigures;
use crate::load::{CONNECTIONS, LoadFigures, THREADS};
use crate::machine::Machine;
use crate::partitions::{PARTITION_RCU, PARTITION_WCU, PartitionFigures, RATES};
use crate::scenario::Operation;
use crate::stats::ms;
use crate::work::{OperationFigures, ratio};
use crate::{HELLO_WORLD, HELLO_WORLD_SDK};

const MIB: f64 = 1024.0 * 1024.0;

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗ over" }
}

/// The time of the run, as the reports print it.
pub fn now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The least capacity the key design allows for each operation, by DynamoDB's on-demand pricing rules (items under
/// 1 KB: a strongly consistent read is 1 RCU, an eventually consistent one 0.5, even for an item that is not there
/// and for a Query that finds nothing; a write is 1 WCU plus 1 per index it lands in; 2 inside a transaction).
fn minimum(operation: Operation) -> String {
    match operation {
        Operation::Login => "2.5 RCU (code item and the number's failures, strong: the resend cooldown and the \
            guessed-number limit; the account 0.5) + 9 WCU (a new number's code + its country's hourly cap + the \
            new-number budget + the daily budget in one transaction, so no code is stored uncounted: 4 × 2; IP \
            counter 1). DynamoDB Local reports the transaction as 2"
            .into(),
        Operation::Verify => "2.5 RCU (2 failure counters, strong; profile 0.5) + 7 WCU (attempt 1, counted before \
            the compare; code + token + profile in one transaction 3 × 2)"
            .into(),
        Operation::GetContacts(n) => {
            let reads = 1.0 + 0.5 * (n as f64 + 1.0) + 2.0 * 0.5;
            format!(
                "{reads} RCU (token 1; {} profiles at 0.5, found or not; 2 Queries at 0.5) + {} WCU (2 per new \
                 edge: table + reverse index \"who has me\"; quota 1; the request and write allowances 1 each). \
                 DynamoDB Local charges nothing for missing items and empty Queries",
                n + 1,
                2 * n + 3
            )
        }
        Operation::DeltaSync(n) => {
            let (reads, _) = minimum_units(operation);
            format!(
                "{reads} RCU (token 1; 3 Queries at 0.5: the address book, who has me, my groups; {} profiles at 0.5: \
                 the users in the book and mine) + 1 WCU (the request allowance). The address book's Query is billed \
                 by its size, 4 KB to 0.5 RCU",
                n / 10 + 1
            )
        }
        Operation::ProfileUpdate => "1 RCU (token, strong: revocation is immediate) + 1 WCU (profile)".into(),
        Operation::PhotoUpload => "1.5 RCU (token 1, profile 0.5) + 2 WCU (the hour's uploads 1, profile 1)".into(),
        Operation::Download => "1 WCU (the file's downloads this hour)".into(),
    }
}

/// The same least capacity as numbers (read units, write units): what DynamoDB bills at least, for the cost model.
pub fn minimum_units(operation: Operation) -> (f64, f64) {
    match operation {
        Operation::Login => (2.5, 9.0),
        Operation::Verify => (2.5, 7.0),
        Operation::GetContacts(n) => (1.0 + 0.5 * (n as f64 + 1.0) + 2.0 * 0.5, 2.0 * n as f64 + 3.0),
        Operation::DeltaSync(n) => (1.0 + 3.0 * 0.5 + 0.5 * (n / 10 + 1) as f64, 1.0),
        Operation::ProfileUpdate => (1.0, 1.0),
        Operation::PhotoUpload => (1.5, 2.0),
        Operation::Download => (0.0, 1.0),
    }
}

pub fn markdown(
    machine: &Machine,
    cold: &[ColdStartFigures],
    init_steps: &[(String, f64)],
    work: &[OperationFigures],
    load: &[LoadFigures],
    partitions: Option<&PartitionFigures>,
    scale: f64,
) -> String {
    let mut md = String::new();
    let date = now();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `make bench` ({date}{}). Every figure comes from one run on the machine below, each beside its \
         reference measured in the same run: compare ratios across machines, never absolute times.\n",
        if scale < 1.0 { format!(", BENCH_SCALE={scale}: fewer iterations than the full run") } else { String::new() }
    );
    let _ = writeln!(md, "| machine | |\n|---|---|");
    let _ = writeln!(md, "| CPU | {} × {} |", machine.cores, machine.cpu_model);
    let _ = writeln!(md, "| memory | {:.1} GiB |", machine.memory_gib);
    let _ = writeln!(md, "| kernel | {} |", machine.kernel);
    let _ = writeln!(md, "| toolchain | {} |", machine.rustc);
    let _ = writeln!(md, "| DynamoDB Local | 3.3.1 on {} |", machine.java);
    let _ = writeln!(md, "| load generator | {} |", machine.wrk);
    let _ = writeln!(md, "| perf counters | {} |\n", if machine.perf_counters { "available" } else { "not available" });

    if !cold.is_empty() {
        let hello = cold.iter().find(|c| c.name == HELLO_WORLD);
        let _ = writeln!(md, "## 1. Cold start\n");
        let _ = writeln!(
            md,
            "Release binaries as `sam build` builds them (`cargo lambda build --release`, x86_64). Init = exec → first \
         `GET /2018-06-01/runtime/invocation/next` at the runtime API emulator (what Lambda reports as Init \
         Duration); it includes reading the configuration and building the SDK configuration (from the Lambda \
         environment) and clients; the phone-number metadata and the system's root certificates load meanwhile on \
         a thread of their own, which init waits for before it ends. Init + first request shows that nothing \
         was merely moved into the first request. The functions get their settings from the environment, as `make dev` \
         does; deployed, init also reads two to four Secrets Manager secrets (`OTP_SECRET_ARN`, `APP_SECRETS_ARN`, \
         `CODE_KEY_SECRET_ARN`, `MESIBO_APP_TOKEN_SECRET_ARN`) over HTTPS, round trips these figures do not \
         include. Median of {} starts per binary, round-robin. The first request is then served against the local \
         stack; peak RSS is VmHWM after it (Lambda's \"Max Memory Used\"). Goals: init ≤ 1.5 × hello-world, binary \
         ≤ 8 MB (10⁶ bytes, the stricter reading), RSS ≤ 30 MB. hello-world-sdk is hello-world that builds the SDK \
         configuration as the functions do and a DynamoDB and an SNS client, and nothing else: the floor under the \
         init of any function that calls AWS with clients built at init.\n",
            cold.first().map(|c| c.starts).unwrap_or(0)
        );
        let _ = writeln!(
            md,
            "| function | init (median) | × hello-world | first request | init + first request | binary | peak RSS |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for c in cold {
            let times = hello.map(|h| ratio(c.init_median, h.init_median)).unwrap_or(0.0);
            let size = c.binary_bytes as f64 / MIB;
            let rss = c.peak_rss_kib as f64 / 1024.0;
            let _ = writeln!(
                md,
                "| {} | {} ms | {:.2}× {} | {} ms | {} ms | {:.1} MiB ({:.1} MB) {} | {:.1} MiB {} |",
                c.name,
                ms(c.init_median),
                times,
                // The floor under the goal, not a function held to it.
                if c.name == HELLO_WORLD_SDK { "(reference)" } else { mark(times <= 1.5) },
                ms(c.first_request_median),
                ms(c.init_plus_first_median),
                size,
                c.binary_bytes as f64 / 1e6,
                mark(c.binary_bytes as f64 <= 8e6),
                rss,
                mark(rss <= 30.0)
            );
        }

        if !init_steps.is_empty() {
            let _ = writeln!(
                md,
                "\nWhere init goes: the same steps timed one by one in fresh processes (`bench init-steps`, median of {}). \
             The phone metadata and the root certificates load on a thread of their own meanwhile, which init \
             waits for before it ends: its wait is what is left of that thread once the clients are built. The last \
             three steps are not init but what a first request pays that the second does not.\n",
                cold.first().map(|c| c.starts).unwrap_or(0)
            );
            let _ = writeln!(md, "| step | ms |\n|---|---:|");
            for (step, ms) in init_steps {
                let _ = writeln!(md, "| {step} | {ms:.2} |");
            }
        }
    }

    if !work.is_empty() {
        let _ = writeln!(md, "\n## 2. DynamoDB work per operation\n");
        let _ = writeln!(
            md,
            "One request each, through the handler, with `ReturnConsumedCapacity: TOTAL` asked by an SDK interceptor. \
         getcontacts is a new user's first sync of N numbers, 10 % of them registered users; a delta sync is the \
         same user's next sync (no numbers, what changed since the first). Rounds are calls that \
         must wait for earlier ones (calls in flight together count once), the most of 3 requests made with {} ms \
         added to every DynamoDB answer by a proxy, as over a network (on loopback an answer can be back before a \
         call issued together with it has even been sent, and the two would look sequential). Calls and capacity \
         are as DynamoDB Local reports them, per kind of call (R = RCU, W = WCU); the minimum is by DynamoDB's \
         on-demand pricing, which charges some things DynamoDB Local does not.\n",
            crate::work::NETWORK_LATENCY.as_millis()
        );
        let _ = writeln!(
            md,
            "| operation | DynamoDB calls | rounds (goal) | RCU | WCU | minimum the key design allows | other calls |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---|---|");
        for w in work {
            let calls: Vec<String> = w
                .calls
                .iter()
                .map(|(op, kind)| {
                    let mut units = vec![];
                    if kind.read_units > 0.0 {
                        units.push(format!("{} R", kind.read_units));
                    }
                    if kind.write_units > 0.0 {
                        units.push(format!("{} W", kind.write_units));
                    }
                    format!("{} {op} ({})", kind.count, if units.is_empty() { "0".into() } else { units.join(", ") })
                })
                .collect();
            let other: Vec<String> = w.other_calls.iter().map(|(op, n)| format!("{n} SNS {op}")).collect();
            let _ = writeln!(
                md,
                "| {} | {} = {} | {} (≤ {}) {} | {:.1} | {:.1} | {} | {} |",
                w.operation.label(),
                w.dynamodb_calls(),
                calls.join(" + "),
                w.rounds,
                w.operation.round_goal(),
                mark(w.rounds <= w.operation.round_goal()),
                w.read_units,
                w.write_units,
                minimum(w.operation),
                if other.is_empty() { "–".into() } else { other.join(", ") }
            );
        }

        let _ = writeln!(md, "\n## 3. Overhead over the database\n");
        let _ = writeln!(
            md,
            "Handler: an API Gateway v2 event in, the response out, in process. Direct: the very requests that handler \
         sent (recorded on the wire), sent again by a plain HTTP client (hyper, TCP_NODELAY) to a mirror: the same table on a second DynamoDB \
         Local, fresh when the section started, that has received every earlier request too, so each call meets the \
         same state; same rounds, same concurrency, same status required. Iterations alternate which instance \
         serves the handler and which the direct calls. Goal: ≤ 1.10×. The photo upload's handler time also \
         decodes and re-encodes a 1600 × 1200 picture and stores it in S3 (moto), which the direct calls do not: \
         its ratio is no overhead figure, its handler time is what docs/COST.md bills.\n"
        );
        let _ = writeln!(
            md,
            "| operation | n | handler p50 | direct p50 | ratio p50 | handler p99 | direct p99 | ratio p99 |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for w in work {
            let (r50, r99) = (ratio(w.handler.p50, w.direct.p50), ratio(w.handler.p99, w.direct.p99));
            let _ = writeln!(
                md,
                "| {} | {} | {} ms | {} ms | {:.2}× {} | {} ms | {} ms | {:.2}× {} |",
                w.operation.label(),
                w.iterations,
                ms(w.handler.p50),
                ms(w.direct.p50),
                r50,
                mark(r50 <= 1.10),
                ms(w.handler.p99),
                ms(w.direct.p99),
                r99,
                mark(r99 <= 1.10)
            );
        }
    }

    if !load.is_empty() {
        let _ = writeln!(md, "\n## 4. Load\n");
        let _ = writeln!(
            md,
            "wrk, {THREADS} threads, {CONNECTIONS} connections (fixed concurrency), {:.0} s per row, against the `make dev` \
         API (the dev server, release-built, with its stream poller and notifier running) and, for reference, \
         straight at DynamoDB Local and moto. Everything shares this machine's {} cores, the load generator too.\n",
            load.first().map(|l| l.seconds).unwrap_or(0.0),
            machine.cores
        );
        let _ = writeln!(md, "| target | request | req/s | p50 | p99 | non-2xx | socket errors |");
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
        for l in load {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} ms | {} ms | {} | {} |",
                l.target,
                l.what,
                l.per_second(),
                ms(l.p50),
                ms(l.p99),
                if l.failures.is_empty() {
                    l.non_2xx.to_string()
                } else {
                    let each: Vec<String> = l.failures.iter().map(|(status, n)| format!("{n} × {status}")).collect();
                    format!("{} ({})", l.non_2xx, each.join(", "))
                },
                l.socket_errors
            );
        }
    }
    if let Some(figures) = partitions {
        partitions_section(&mut md, figures);
    }
    md
}

/// `1,234`: the reports' rates, loads and dollars.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn partitions_section(md: &mut String, p: &PartitionFigures) {
    let _ = writeln!(md, "\n## 5. Partition heat (a model)\n");
    let countries: Vec<String> = p.countries.iter().map(|c| format!("+{c}")).collect();
    let _ = writeln!(
        md,
        "DynamoDB Local does not throttle, so this models DynamoDB's limit of {} WCU/s and {} RCU/s per partition \
         ([Developer Guide](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html); \
         an item never leaves its partition: [adaptive capacity](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html)). \
         {} sign-ins (login + verify, distinct new numbers of {}, each from its own address) and {} groups created \
         ran through the handlers with every DynamoDB call recorded; each call's units (a write 1 WCU, 2 in a \
         transaction, +1 on GSI1; a read 1 RCU strong, 0.5 eventual) are put on the partition keys it touched, and \
         scaled to the rates below: a key of one sign-in is touched once whatever the rate, a shared key takes its \
         share of every second's sign-ins, split evenly over its shards. Before: the same replay with every split \
         counter in one item and the group-id counter `COUNTER#GROUP` (1 WCU per group). Each row is the hottest \
         key of its shape; ✗ = over a partition's limit. \"sign-ins/s at the limit\": when that key reaches it \
         (docs/SCALE.md derives the design limit from these).\n",
        thousands(PARTITION_WCU),
        thousands(PARTITION_RCU),
        p.sign_ins,
        countries.join(", "),
        p.groups
    );
    let header: Vec<String> =
        RATES.iter().map(|r| format!("{} /s before | {} /s after", thousands(*r), thousands(*r))).collect();
    let _ = writeln!(
        md,
        "| partition key | share of sign-ins | units per touch | items before → after | {} | sign-ins/s at the limit before → after |",
        header.join(" | ")
    );
    let _ = writeln!(md, "|---|---:|---|---|{}---|", "---:|".repeat(2 * RATES.len()));
    let cell = |row: &crate::partitions::HeatRow, rate: f64, shards: usize| {
        if shards == 0 {
            return "–".to_owned();
        }
        let (wcu, rcu) = row.load(rate, shards);
        let mut units = vec![];
        if wcu > 0.0 {
            units.push(format!("{} W", thousands(wcu)));
        }
        if rcu > 0.0 {
            units.push(format!("{} R", thousands(rcu)));
        }
        format!("{}{}", units.join(" + "), if row.over(rate, shards) { " ✗" } else { "" })
    };
    let limit = |row: &crate::partitions::HeatRow, shards: usize| match (shards, row.limit(shards)) {
        (0, _) => "no such key".to_owned(),
        (_, None) => "none (one per sign-in)".to_owned(),
        (_, Some(rate)) => thousands(rate),
    };
    for row in &p.rows {
        let loads: Vec<String> = RATES
            .iter()
            .map(|rate| format!("{} | {}", cell(row, *rate, row.shards_before), cell(row, *rate, row.shards)))
            .collect();
        let _ = writeln!(
            md,
            "| `{}` | {:.1} % | {:.1} W, {:.1} R | {} → {} | {} | {} → {} |",
            row.shape,
            100.0 * row.touched_by,
            row.wcu_per_touch,
            row.rcu_per_touch,
            row.shards_before,
            row.shards,
            loads.join(" | "),
            limit(row, row.shards_before),
            limit(row, row.shards)
        );
    }
}
