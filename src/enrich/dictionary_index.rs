// The search index of a sorted word list. build.rs builds the embedded dictionary's at compile
// time (it `include!`s this file, so there is one builder), which leaves the running process
// nothing to build and nothing on the heap: the index lies in the binary beside the words, and
// only the pages a lookup touches become resident. `Dictionary::parse` builds others (tests).
//
// Layout, little-endian: a header `[words: u32, first characters: u32, total frequency: u64]`,
// then per word its key (`[u64; words]`, see `word_key`), the byte offset of its line
// (`[u32; words + 1]`, the last one the text's length), its frequency (`[u32; words]`) and its
// byte length (`[u8; words]`), then per distinct first character `(char, first word, end)`
// (`[(u32, u32, u32); first characters]`, by character).

/// Builds the index of `text`: `word frequency` lines, sorted bytewise, words unique, of at most
/// 255 bytes without whitespace or control characters. An error names the first bad line.
pub fn build_index(text: &str) -> Result<Vec<u8>, String> {
    if u32::try_from(text.len()).is_err() {
        return Err("dictionary over 4 GiB".into());
    }
    let (mut keys, mut lines, mut frequencies, mut lengths) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut firsts: Vec<(u32, u32, u32)> = Vec::new();
    let mut total: u64 = 0;
    let mut previous: Option<&str> = None;
    let mut start = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let entry = line.trim_end_matches('\n');
        let (word, frequency) = entry
            .split_once(' ')
            .and_then(|(w, f)| Some((w, f.parse::<u32>().ok()?)))
            .filter(|(w, _)| {
                !w.is_empty() && w.len() <= 255 && !w.contains(|c: char| c.is_whitespace() || c.is_control())
            })
            .ok_or_else(|| format!("line {}: `{entry}` is not `word frequency`", number + 1))?;
        if previous.is_some_and(|p| p >= word) {
            return Err(format!("line {}: `{word}` is out of order or repeated", number + 1));
        }
        previous = Some(word);
        let index = keys.len() as u32;
        let first = word.chars().next().expect("not empty") as u32;
        match firsts.last_mut() {
            Some(last) if last.0 == first => last.2 = index + 1,
            _ => firsts.push((first, index, index + 1)),
        }
        keys.push(word_key(word.as_bytes()));
        lines.push(start as u32);
        frequencies.push(frequency);
        lengths.push(word.len() as u8);
        total += frequency as u64;
        start += line.len();
    }
    lines.push(text.len() as u32);
    let mut out = Vec::with_capacity(16 + keys.len() * 17 + 4 + firsts.len() * 12);
    out.extend((keys.len() as u32).to_le_bytes());
    out.extend((firsts.len() as u32).to_le_bytes());
    out.extend(total.to_le_bytes());
    keys.iter().for_each(|k| out.extend(k.to_le_bytes()));
    lines.iter().for_each(|l| out.extend(l.to_le_bytes()));
    frequencies.iter().for_each(|f| out.extend(f.to_le_bytes()));
    out.extend(&lengths);
    for (c, lo, hi) in firsts {
        out.extend(c.to_le_bytes());
        out.extend(lo.to_le_bytes());
        out.extend(hi.to_le_bytes());
    }
    Ok(out)
}

/// The first eight bytes of `bytes`, big-endian and zero-padded. Keys order as the bytes do
/// (neither words nor the runs they are looked up in hold a zero byte), so most comparisons of a
/// binary search read one array instead of the text.
pub fn word_key(bytes: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    let n = bytes.len().min(8);
    first[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(first)
}
