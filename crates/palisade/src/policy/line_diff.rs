//! A minimal line diff (longest common subsequence), for `plan`'s rule listings.

/// Lines of a minimal edit script from `old` to `new` (longest common subsequence).
pub fn diff_lines(old: &[String], new: &[String]) -> Vec<(char, String)> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((' ', old[i].clone()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(('+', new[j].clone()));
            j += 1;
        } else {
            out.push(('-', old[i].clone()));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn marks_additions_and_removals_only() {
        let d = diff_lines(&lines("a b c d"), &lines("a c d e"));
        let marked: Vec<_> = d.iter().filter(|(m, _)| *m != ' ').cloned().collect();
        assert_eq!(marked, vec![('-', "b".to_string()), ('+', "e".to_string())]);
        assert!(diff_lines(&lines("x y"), &lines("x y"))
            .iter()
            .all(|(m, _)| *m == ' '));
    }
}
