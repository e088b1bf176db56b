//! Hold IDs people can read out over the phone: six characters from an alphabet without the
//! look-alikes 0/O, 1/I/L (and U, V's twin on a bad line), plus a check character, shown as
//! `K7QF-M9X`. A mistyped ID fails its check instead of naming another hold.

use std::fmt;

/// 29 characters: a prime count, so the weighted check catches every single wrong character
/// and every swap of two neighbours.
const ALPHABET: &[u8; 29] = b"23456789ABCDEFGHJKMNPQRSTVWXY";
const BODY: usize = 6;

/// A valid hold ID, in its canonical form (`XXXX-XXX`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldId(String);

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|&a| a == c)
}

/// The check character makes the weighted sum of all seven values, weights 1 to 7, a
/// multiple of 29. A wrong character changes the sum by (weight × difference), a swap of two
/// neighbours by their difference: neither is a multiple of 29, so neither goes unnoticed.
fn check_char(body: &[usize]) -> u8 {
    let n = ALPHABET.len();
    let sum: usize = body.iter().enumerate().map(|(i, v)| (i + 1) * v).sum();
    // 25 is the inverse of the check's weight 7 modulo 29.
    ALPHABET[(n - sum % n) * 25 % n]
}

impl HoldId {
    /// A new ID from random bytes (the caller supplies entropy, so tests are deterministic).
    pub fn from_entropy(bytes: [u8; BODY]) -> HoldId {
        let body: Vec<usize> = bytes
            .iter()
            .map(|&b| usize::from(b) % ALPHABET.len())
            .collect();
        let mut s: Vec<u8> = body.iter().map(|&v| ALPHABET[v]).collect();
        s.push(check_char(&body));
        s.insert(4, b'-');
        HoldId(String::from_utf8(s).expect("ASCII"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses what a person typed: any case, with or without the dash or spaces.
    pub fn parse(typed: &str) -> Result<HoldId, String> {
        let chars: Vec<u8> = typed
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' '))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        if chars.len() != BODY + 1 {
            return Err(format!(
                "\"{typed}\" is not a hold ID: IDs have 7 characters, like K7QF-M9X (see `clipwarden hold list`)"
            ));
        }
        let mut body = Vec::with_capacity(BODY);
        for &c in &chars[..BODY] {
            body.push(value(c).ok_or_else(|| bad_char(typed, c))?);
        }
        let check = chars[BODY];
        value(check).ok_or_else(|| bad_char(typed, check))?;
        if check_char(&body) != check {
            return Err(format!(
                "\"{typed}\" is not a valid hold ID: its check character does not match, so a character is mistyped (see `clipwarden hold list`)"
            ));
        }
        let mut s = chars;
        s.insert(4, b'-');
        Ok(HoldId(String::from_utf8(s).expect("ASCII")))
    }
}

fn bad_char(typed: &str, c: u8) -> String {
    let hint = match c {
        b'0' | b'O' => " (IDs never contain 0 or O)",
        b'1' | b'I' | b'L' => " (IDs never contain 1, I or L)",
        b'U' => " (IDs never contain U; did you mean V?)",
        _ => "",
    };
    format!(
        "\"{typed}\" is not a hold ID: '{}' cannot appear in one{hint}",
        char::from(c).escape_default()
    )
}

impl fmt::Display for HoldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_in_any_case_and_spacing() {
        let id = HoldId::from_entropy([1, 2, 3, 4, 5, 6]);
        assert_eq!(id.as_str().len(), 8);
        assert_eq!(HoldId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(HoldId::parse(&id.as_str().to_lowercase()), Ok(id.clone()));
        assert_eq!(
            HoldId::parse(&id.as_str().replace('-', " ")),
            Ok(id.clone())
        );
        assert_eq!(HoldId::parse(&id.as_str().replace('-', "")), Ok(id));
    }

    #[test]
    fn look_alikes_are_explained() {
        for (typed, want) in [
            ("K7QF-M0X", "0 or O"),
            ("K7QF-MOX", "0 or O"),
            ("K7QF-M1X", "1, I or L"),
            ("K7Q", "7 characters"),
        ] {
            let err = HoldId::parse(typed).unwrap_err();
            assert!(err.contains(want), "{typed}: {err}");
        }
    }

    proptest! {
        #[test]
        fn every_single_typo_and_neighbour_swap_is_caught(bytes in prop::array::uniform6(any::<u8>()), pos in 0usize..7, delta in 1usize..29) {
            let id = HoldId::from_entropy(bytes);
            let mut chars: Vec<u8> = id.as_str().bytes().filter(|&b| b != b'-').collect();
            let mut typo = chars.clone();
            typo[pos] = ALPHABET[(value(typo[pos]).unwrap() + delta) % 29];
            prop_assert!(HoldId::parse(std::str::from_utf8(&typo).unwrap()).is_err());
            if pos < 6 && chars[pos] != chars[pos + 1] {
                // Neighbours, the check character included.
                chars.swap(pos, pos + 1);
                prop_assert!(HoldId::parse(std::str::from_utf8(&chars).unwrap()).is_err());
            }
        }
    }
}
