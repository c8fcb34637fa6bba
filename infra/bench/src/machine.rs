//! The machine the figures were measured on: absolute times mean nothing on another one, ratios travel.

use std::process::Command;

pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub java: String,
    pub wrk: String,
    pub perf_counters: bool,
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| "not found".into())
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal").trim_end_matches(" kB").parse().unwrap_or(0.0);
        let perf = Command::new("perf").args(["stat", "-e", "instructions", "true"]).output();
        Self {
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_model: field(&cpuinfo, "model name"),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: first_line("uname", &["-sr"]),
            rustc: first_line("rustc", &["--version"]),
            java: first_line("java", &["-version"]),
            wrk: first_line("wrk", &["--version"]),
            perf_counters: perf.is_ok_and(|o| !String::from_utf8_lossy(&o.stderr).contains("not supported")),
        }
    }
}
