package policy

import "unicode/utf8"

// Match reports whether name matches the glob pattern. `*` matches any run of
// characters, the empty run and '/' included; `?` matches exactly one
// character (one UTF-8 sequence, or one byte of invalid UTF-8); every other
// byte matches only itself, case-sensitively. There are no classes and no
// escapes, so every pattern is valid. Matching takes O(len(pattern)·len(name))
// time at worst and never allocates.
func Match(pattern, name string) bool {
	p, n := 0, 0
	star, starN := -1, 0 // the last '*' seen and where its run ends in name
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				star, starN = p, n
				p++
				continue
			case '?':
				_, size := utf8.DecodeRuneInString(name[n:])
				p++
				n += size
				continue
			default:
				if c == name[n] {
					p++
					n++
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		// Let the last '*' swallow one more character and retry from there.
		_, size := utf8.DecodeRuneInString(name[starN:])
		starN += size
		p, n = star+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchAny returns the first pattern in patterns that matches name.
func matchAny(patterns []string, name string) (string, bool) {
	for _, pat := range patterns {
		if Match(pat, name) {
			return pat, true
		}
	}
	return "", false
}
