package config

// Names in a configuration file are checked byte by byte rather than with
// regexps compiled at package init, which every launch paid for before main
// even ran (with the patterns for decoder messages in parse.go, about half a
// millisecond). Every accepted character is ASCII, so a byte outside the set
// (any byte of a UTF-8 sequence included) is refused, as the patterns refused
// it; names_test.go holds the patterns and checks that they agree.

// isName reports whether s is a server or principal name:
// ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (the caller bounds the length).
func isName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isEnvName reports whether s is an environment variable name:
// ^[A-Za-z_][A-Za-z0-9_]*$.
func isEnvName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// isHeaderName reports whether s is an HTTP field name, an RFC 9110 token:
// ^[!#$%&'*+.^_`|~0-9A-Za-z-]+$.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !isTokenSymbol(c) {
			return false
		}
	}
	return true
}

func isTokenSymbol(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
