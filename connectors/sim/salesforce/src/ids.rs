//! Record ids: 15-char case-sensitive base-62 ids with the object's key prefix, the 18-char form
//! with its capitalisation checksum (spec §13), and normalising 15/18-char input.

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 15-char id for the `n`-th record: prefix, a fixed pod part, then `n` in base 62.
/// Fixed width and an ASCII-ordered alphabet keep byte order equal to creation order.
pub fn short_id(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut rest = n;
    for d in digits.iter_mut().rev() {
        *d = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    format!("{prefix}5g0{}", String::from_utf8_lossy(&digits))
}

/// The 18-char form of a 15-char id: for each 5-char block, bit i set when char i is uppercase.
pub fn to_18(id15: &str) -> String {
    let bytes = id15.as_bytes();
    let mut out = id15.to_string();
    for block in bytes.chunks(5) {
        let flags = block
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        out.push(SUFFIX[flags] as char);
    }
    out
}

/// A lookup key for an id given in either form: 15-char ids are case-sensitive (extended
/// first), 18-char ids compare case-insensitively. `None` when it is not an id at all.
pub fn lookup_key(input: &str) -> Option<String> {
    if !input.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match input.len() {
        15 => Some(to_18(input).to_ascii_lowercase()),
        18 => Some(input.to_ascii_lowercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_encodes_capitalisation_per_block() {
        assert_eq!(to_18("003000000000001"), "003000000000001AAA");
        // "00QA0": Q,A at 2,3 → 12 → M; "00000" → A; "0ABCD": 1..4 → 30 → '4'.
        assert_eq!(to_18("00QA0000000ABCD"), "00QA0000000ABCDMA4");
    }

    #[test]
    fn fifteen_char_input_is_case_sensitive_eighteen_is_not() {
        let long = to_18("003Ab0000000xYz");
        assert_eq!(lookup_key("003Ab0000000xYz"), Some(long.to_ascii_lowercase()));
        assert_ne!(lookup_key("003AB0000000XYZ"), lookup_key("003Ab0000000xYz"));
        assert_eq!(lookup_key(&long.to_ascii_uppercase()), lookup_key(&long));
        assert_eq!(lookup_key("short"), None);
    }

    #[test]
    fn short_ids_sort_in_creation_order() {
        let (a, b, c) = (short_id("003", 9), short_id("003", 10), short_id("003", 62));
        assert_eq!(a.len(), 15);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("003"));
    }
}
