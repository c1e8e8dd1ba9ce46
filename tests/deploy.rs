//! The deployment files against the binary: every variable docker-compose.yml
//! sets for softcat is one the binary reads and accepts, with the value it
//! sets, and every service runs a real `softcat` command.

use std::process::Command;

use serde_json::Value;

const COMPOSE: &str = include_str!("../docker-compose.yml");

/// `(service, variable, value)` for each environment entry, with
/// `${NAME:-default}` replaced by its default.
fn environment() -> Vec<(String, String, String)> {
    let mut entries = Vec::new();
    let mut service = String::new();
    let mut in_environment = false;
    for line in COMPOSE.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent == 2 && text.ends_with(':') {
            service = text.trim_end_matches(':').to_owned();
            in_environment = false;
        } else if indent == 4 {
            in_environment = text == "environment:";
        } else if in_environment && indent == 6 {
            let (name, value) = text.split_once(':').expect("NAME: value");
            entries.push((service.clone(), name.to_owned(), substitute(value.trim())));
        }
    }
    entries
}

fn substitute(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, default)| default));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn softcat(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(args)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .envs(env.iter().copied())
        .output()
        .expect("run softcat")
}

#[test]
fn every_softcat_variable_in_the_compose_file_is_read_with_its_value() {
    let entries = environment();
    let softcat_entries: Vec<_> = entries
        .iter()
        .filter(|(service, _, _)| !matches!(service.as_str(), "postgres" | "redis"))
        .collect();
    assert!(softcat_entries.len() >= 15, "{entries:?}");
    for (service, name, value) in softcat_entries {
        let output = softcat(&["config"], &[(name.as_str(), value.as_str())]);
        assert!(
            output.status.success(),
            "{service}: {name}={value}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if name == "SOFTCAT_LOG_FORMAT" {
            continue; // read by the logger; an unknown format would have failed
        }
        let config: Value = serde_json::from_slice(&output.stdout).expect("config JSON");
        let path: Vec<String> = match name.as_str() {
            "DATABASE_URL" => vec!["database_url".into()],
            "REDIS_URL" => vec!["redis_url".into()],
            other => other
                .strip_prefix("SOFTCAT_")
                .unwrap_or_else(|| panic!("{service}: {other} is not a softcat variable"))
                .split("__")
                .map(str::to_lowercase)
                .collect(),
        };
        let found = path.iter().fold(&config, |node, key| &node[key.as_str()]);
        let shown = match found {
            Value::String(text) => text.clone(),
            Value::Null => panic!("{service}: {name} is not a configuration key"),
            other => other.to_string(),
        };
        let expected = value.replace("softcat:softcat@", "softcat:***@");
        assert_eq!(shown, expected, "{service}: {name}");
    }
}

#[test]
fn every_service_runs_a_real_command() {
    let mut commands = 0;
    for line in COMPOSE.lines() {
        if let Some(list) = line.trim().strip_prefix("command: [\"")
            && !line.contains("redis-server")
        {
            let command = list.split('"').next().unwrap();
            let output = softcat(&[command, "--help"], &[]);
            assert!(output.status.success(), "softcat {command}");
            commands += 1;
        }
    }
    assert_eq!(commands, 4, "migrate, api, worker, scheduler");
}
