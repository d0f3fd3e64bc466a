//! `--log`, `--log-format` and `--debug`: runc's log lines, written by a
//! minimal `tracing` subscriber (no threads, no background writer).
//!
//! json: `{"level":"error","msg":"...","time":"RFC3339"}`, one per line.
//! text: `time="..." level=error msg="..."`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub struct Logger {
    file: Option<Mutex<File>>,
    format: LogFormat,
    max: Level,
}

impl Logger {
    pub fn new(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<Self> {
        let file = match path {
            Some(p) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
            None => None,
        };
        Ok(Self {
            file,
            format,
            max: if debug { Level::DEBUG } else { Level::INFO },
        })
    }

    /// Formats one line in the configured format.
    pub fn line(&self, level: Level, msg: &str) -> String {
        let level = level.as_str().to_ascii_lowercase();
        let level = if level == "warn" {
            "warning".to_string()
        } else {
            level
        };
        let time = libcontainer::time::now();
        match self.format {
            LogFormat::Json => format!(
                "{}\n",
                serde_json::json!({ "level": level, "msg": msg, "time": time })
            ),
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
        }
    }

    /// Writes a line to the log file, or to stderr when there is none.
    pub fn write(&self, level: Level, msg: &str) {
        let line = self.line(level, msg);
        match &self.file {
            Some(file) => {
                if let Ok(mut f) = file.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// A fatal error: the last line of the log, and a plain message on stderr.
    pub fn fatal(&self, msg: &str) {
        if self.file.is_some() {
            self.write(Level::ERROR, msg);
        }
        let _ = writeln!(std::io::stderr(), "berth: {msg}");
    }
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut msg = Message(String::new());
        event.record(&mut msg);
        self.write(*event.metadata().level(), &msg.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_shape() {
        let logger = Logger::new(None, LogFormat::Json, false).unwrap();
        let line = logger.line(Level::ERROR, "container \"x\" does not exist");
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_line_shape() {
        let logger = Logger::new(None, LogFormat::Text, false).unwrap();
        let line = logger.line(Level::WARN, "hook failed");
        assert!(line.contains("level=warning msg=\"hook failed\""), "{line}");
    }
}
