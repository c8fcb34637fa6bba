//! `sam local invoke` without Docker: runs one function of template.yaml on an event, with the variables SAM would
//! give it (template.yaml, the shell, `--env-vars`), as a process of its own talking to a Lambda runtime API
//! emulated here. The function's logs go to stderr, its response (JSON) to stdout; an error response, a failed
//! init, a crash or a timeout exits 1.
//!
//!   cargo build --bins && target/debug/invoke LoginFunction -e events/login.json -n events/env.json
//!
//! The function binaries are looked for beside this one (cargo puts every workspace binary in one directory), or in
//! `--binaries DIR`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use hyper::body::Bytes;
use local_stack::runtime_api::{FunctionProcess, Outcome};
use local_stack::sam_local::sam_function;

const USAGE: &str = "usage: invoke <FunctionLogicalId> [-e|--event FILE|-] [-n|--env-vars FILE] [--binaries DIR]";

struct Args {
    function: String,
    event: Option<String>,
    env_vars: Option<PathBuf>,
    binaries: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut function, mut event, mut env_vars, mut binaries) = (None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "-e" | "--event" => event = Some(value(&arg)?),
            "-n" | "--env-vars" => env_vars = Some(PathBuf::from(value(&arg)?)),
            "--binaries" => binaries = Some(PathBuf::from(value(&arg)?)),
            "-h" | "--help" => return Err(USAGE.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if function.is_none() => function = Some(arg),
            _ => return Err(format!("one function at a time\n{USAGE}")),
        }
    }
    Ok(Args { function: function.ok_or(USAGE)?, event, env_vars, binaries })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("invoke: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    let args = parse_args()?;
    // As sam local invoke: the event from a file, from stdin with `-`, else an empty object.
    let event = match args.event.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
            text
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => "{}".to_owned(),
    };
    serde_json::from_str::<serde_json::Value>(&event).map_err(|e| format!("the event is not JSON: {e}"))?;
    let env_vars = match &args.env_vars {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?
        }
        None => serde_json::Value::Null,
    };
    let function = sam_function(&args.function, &env_vars, &|name| std::env::var(name).ok())?;
    let binaries = match args.binaries {
        Some(dir) => dir,
        None => std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.to_owned())).ok_or("no binaries dir")?,
    };
    let binary = binaries.join(&function.binary);
    if !binary.is_file() {
        return Err(format!("{} is not built: cargo build --bin {}", binary.display(), function.binary));
    }

    let stderr = || Stdio::from(std::io::stderr());
    let mut process = FunctionProcess::start(&function.logical_id, &binary, &function.env, function.timeout, stderr)
        .await
        .map_err(|e| e.to_string())?;
    let started = process.started_at;
    let result = process.invoke(Bytes::from(event)).await;
    process.stop().await;
    match result {
        Ok(answer) => {
            let (init, duration) = (answer.picked_at - started, answer.answered_at - answer.picked_at);
            eprintln!(
                "REPORT RequestId: {}\tInit Duration: {:.2} ms\tDuration: {:.2} ms",
                answer.request_id,
                init.as_secs_f64() * 1000.0,
                duration.as_secs_f64() * 1000.0
            );
            match answer.outcome {
                Outcome::Response(body) => {
                    println!("{}", String::from_utf8_lossy(&body));
                    Ok(ExitCode::SUCCESS)
                }
                Outcome::Error(error) => {
                    println!("{}", String::from_utf8_lossy(&error.body));
                    eprintln!(
                        "invoke: {} answered with an error ({})",
                        function.logical_id,
                        error.error_type.unwrap_or_default()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Err(error) => {
            eprintln!("invoke: {}: {error}", function.logical_id);
            Ok(ExitCode::FAILURE)
        }
    }
}
