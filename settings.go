package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: an environment variable and a flag of
// the same meaning (the flag wins), a default, and a parser into its target.
type setting struct {
	env    string
	flag   string
	def    string
	help   string
	secret bool
	set    func(string) error // parses and stores the value
	value  string             // effective value after load
	source string             // "default", "env" or "flag"
}

// settings is an ordered list of settings, loaded together so that every
// problem is reported at once.
type settings struct {
	list []*setting
}

func (s *settings) add(env, flagName, def, help string, set func(string) error) *setting {
	st := &setting{env: env, flag: flagName, def: def, help: help, set: set}
	s.list = append(s.list, st)
	return st
}

func (s *settings) str(p *string, env, flagName, def, help string) *setting {
	return s.add(env, flagName, def, help, func(v string) error { *p = v; return nil })
}

func (s *settings) secret(p *string, env, flagName, help string) *setting {
	st := s.str(p, env, flagName, "", help)
	st.secret = true
	return st
}

func (s *settings) integer(p *int, env, flagName, def, help string, lo, hi int) *setting {
	return s.add(env, flagName, def, help, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
		}
		*p = n
		return nil
	})
}

// millis parses a whole number of milliseconds.
func (s *settings) millis(p *time.Duration, env, flagName, def, help string, lo, hi time.Duration) *setting {
	return s.add(env, flagName, def, help, func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of milliseconds", v)
		}
		d := time.Duration(n) * time.Millisecond
		if d < lo || d > hi {
			return fmt.Errorf("%v is outside %v..%v", d, lo, hi)
		}
		*p = d
		return nil
	})
}

// duration parses a Go duration ("8s", "1m30s").
func (s *settings) duration(p *time.Duration, env, flagName, def, help string, lo, hi time.Duration) *setting {
	return s.add(env, flagName, def, help, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 8s or 1m", v)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%v is outside %v..%v", d, lo, hi)
		}
		*p = d
		return nil
	})
}

func (s *settings) boolean(p *bool, env, flagName, def, help string) *setting {
	return s.add(env, flagName, def, help, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
		return nil
	})
}

// strList parses a comma-separated list; each item, trimmed, goes through
// item, which returns it normalised or an error naming it. Empty items are
// skipped.
func (s *settings) strList(p *[]string, env, flagName, def, help string, item func(string) (string, error)) *setting {
	return s.add(env, flagName, def, help, func(v string) error {
		out := []string{}
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := item(f)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		*p = out
		return nil
	})
}

func (s *settings) oneOf(p *string, env, flagName, def, help string, choices ...string) *setting {
	return s.add(env, flagName, def, help+" ("+strings.Join(choices, ", ")+")", func(v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		for _, c := range choices {
			if v == c {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(choices, ", "))
	})
}

// errHelp is returned by load when --help was asked for.
var errHelp = errors.New("help requested")

// problems is returned by load for values that do not parse: one line per
// setting. The settings that failed hold their defaults, so that the
// checks between settings can still run and be reported with them.
type problems []string

func (p problems) Error() string { return "invalid configuration:\n" + strings.Join(p, "\n") }

// load applies defaults, then the environment, then flags, and returns every
// problem found, one per line, naming the variable and flag to change.
func (s *settings) load(name string, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]*string{}
	for _, st := range s.list {
		flagVals[st.flag] = fs.String(st.flag, "", st.help)
	}
	help := fs.Bool("help", false, "list every setting")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if *help {
		return errHelp
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	var bad problems
	for _, st := range s.list {
		st.value, st.source = st.def, "default"
		if v := getenv(st.env); v != "" {
			st.value, st.source = v, "env"
		}
		if setFlags[st.flag] {
			st.value, st.source = *flagVals[st.flag], "flag"
		}
		if st.value == "" && st.def == "" {
			continue
		}
		if err := st.set(st.value); err != nil {
			where := st.env
			if st.source == "flag" {
				where = "--" + st.flag
			}
			shown := err.Error()
			if st.secret {
				shown = "invalid value (not shown)"
			}
			bad = append(bad, fmt.Sprintf("  %s: %s; set %s or --%s: %s", where, shown, st.env, st.flag, st.help))
			if st.def != "" {
				st.set(st.def)
			}
		}
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// usage lists every setting with its variable, flag, default and meaning.
func (s *settings) usage(w io.Writer) {
	for _, st := range s.list {
		def := st.def
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "  %-28s --%-24s default %s\n      %s\n", st.env, st.flag, def, st.help)
	}
}

// effective returns the effective configuration for the start-up log, with
// secrets shown as REDACTED.
func (s *settings) effective() map[string]string {
	out := make(map[string]string, len(s.list))
	for _, st := range s.list {
		v := st.value
		if st.secret && v != "" {
			v = "REDACTED"
		}
		out[st.env] = v
	}
	return out
}
