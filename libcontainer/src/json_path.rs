//! Where in a JSON document a parse error is: `process.user.uid`,
//! `linux.namespaces[1].type`.
//!
//! serde_json reports a type error at a line and column; this module walks
//! the text up to that point and names the field being read there. It
//! replaces a path-tracking deserializer, which would compile the whole
//! config.json deserializer a second time for the rare bad file.

/// The field of `text` that serde_json was reading at `line`:`column`
/// (1-based line, byte column, as `serde_json::Error` reports them), in
/// `a.b[2].c` form. Empty at the top level.
///
/// serde_json reports a bad scalar just after it, a map or sequence of the
/// wrong kind at its opening bracket, and a missing field just after the
/// object's closing brace: in each case the innermost open container and
/// its current key or index, after the text up to the position, name it.
pub fn at(text: &[u8], line: usize, column: usize) -> String {
    let start = text
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let end = (start + column).min(text.len());
    path_before(&text[..end])
}

/// One open container, with what it is reading now.
enum Frame {
    /// An object, with the last key read (None before the first).
    Object(Option<String>),
    /// An array, with the index of the element read now (None before the
    /// first).
    Array(Option<usize>),
}

fn path_before(text: &[u8]) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    // In an object, whether the next string is a key.
    let mut want_key = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => {
                begin_value(&mut stack);
                stack.push(Frame::Object(None));
                want_key = true;
                i += 1;
            }
            b'[' => {
                begin_value(&mut stack);
                stack.push(Frame::Array(None));
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                want_key = false;
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Object(_)) => want_key = true,
                    Some(Frame::Array(index)) => *index = Some(index.map_or(0, |n| n + 1)),
                    None => {}
                }
                i += 1;
            }
            b'"' => {
                let end = string_end(text, i);
                if want_key {
                    let key =
                        serde_json::from_slice::<String>(&text[i..end]).unwrap_or_else(|_| {
                            String::from_utf8_lossy(&text[i + 1..end.saturating_sub(1)])
                                .into_owned()
                        });
                    if let Some(Frame::Object(current)) = stack.last_mut() {
                        *current = Some(key);
                    }
                    want_key = false;
                } else {
                    begin_value(&mut stack);
                }
                i = end;
            }
            b' ' | b'\t' | b'\r' | b'\n' | b':' => i += 1,
            _ => {
                // A number or a literal: up to the next delimiter.
                begin_value(&mut stack);
                while i < text.len() && !b",]} \t\r\n".contains(&text[i]) {
                    i += 1;
                }
            }
        }
    }
    render(&stack)
}

/// A value starts: in an array, it is the element at the current index.
fn begin_value(stack: &mut [Frame]) {
    if let Some(Frame::Array(index @ None)) = stack.last_mut() {
        *index = Some(0);
    }
}

/// The index just past the string that starts at `start` (or the end of
/// the text, for one that is cut off).
fn string_end(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array(Some(index)) => path.push_str(&format!("[{index}]")),
            Frame::Object(None) | Frame::Array(None) => {}
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::at;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        a: Option<Inner>,
        list: Option<Vec<Inner>>,
        words: Option<Vec<String>>,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
        kind: Option<Kind>,
    }
    #[derive(Deserialize, Debug)]
    enum Kind {
        One,
    }

    /// The path serde_json's own error position leads to.
    fn path_of(text: &str) -> String {
        let e = serde_json::from_str::<Doc>(text).expect_err(text);
        at(text.as_bytes(), e.line(), e.column())
    }

    #[test]
    fn names_the_field_of_each_kind_of_error() {
        // A scalar of the wrong type, inside objects and arrays.
        assert_eq!(path_of(r#"{"a": {"n": "x"}}"#), "a.n");
        assert_eq!(path_of(r#"{"list": [{"n": 1}, {"n": -1}]}"#), "list[1].n");
        // An unknown enum variant.
        assert_eq!(
            path_of(r#"{"list": [{"n": 1, "kind": "Two"}]}"#),
            "list[0].kind"
        );
        // A map where a sequence belongs, and the reverse.
        assert_eq!(path_of(r#"{"list": {"n": 1}}"#), "list");
        assert_eq!(path_of(r#"{"a": [1]}"#), "a");
        // A scalar where a sequence belongs; a bad element of one.
        assert_eq!(path_of(r#"{"words": "x y"}"#), "words");
        assert_eq!(path_of(r#"{"words": ["x", 2]}"#), "words[1]");
        // A missing field names the object that lacks it.
        assert_eq!(path_of(r#"{"list": [{"n": 1}, {}]}"#), "list[1]");
        // Over lines, with escapes and brackets inside strings.
        assert_eq!(
            path_of("{\n \"words\": [\"a]}\\\"\",\n  \"b\"],\n \"a\": {\"n\":\n true}}"),
            "a.n"
        );
        // The top level.
        assert_eq!(path_of("1"), "");
    }
}
