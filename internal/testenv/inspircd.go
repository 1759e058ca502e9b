package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testcert"
)

// IRCd is an InspIRCd server started by InspIRCd. Its ports stay the same
// across Restart.
type IRCd struct {
	Plain, TLS, WS, WSS int            // ports on 127.0.0.1
	Cert                *testcert.Cert // the server's certificate (for RootCAs)
	Dir                 string         // configuration, log and pid files

	t    testing.TB
	bin  string
	proc *Process
}

// inspircdConfig is the configuration of ../shared/TESTING.md with its
// paths and ports filled in.
const inspircdConfig = `<server name="irc.test.local" description="test ircd" network="TestNet">
<admin name="test" nick="test" email="test@localhost">
<pid file="{DIR}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{DIR}/ircd.log">
<module name="cap"> <module name="ircv3"> <module name="ircv3_capnotify"> <module name="ircv3_ctctags">
<module name="ircv3_msgid"> <module name="ircv3_servertime"> <module name="ircv3_echomessage">
<module name="ssl_gnutls"> <module name="sha1"> <module name="websocket">
<ctctags allowclientonlytags="yes">
<sslprofile name="tls" provider="gnutls" certfile="{DIR}/cert.pem" keyfile="{DIR}/key.pem" hash="sha256" requestclientcert="no">
<websocket defaultmode="text">
<wsorigin allow="*">
<bind address="127.0.0.1" port="{PLAIN}" type="clients">
<bind address="127.0.0.1" port="{TLS}" type="clients" sslprofile="tls">
<bind address="127.0.0.1" port="{WS}" type="clients" hook="websocket">
<bind address="127.0.0.1" port="{WSS}" type="clients" hook="websocket" sslprofile="tls">
<connect name="main" allow="*" port="{PLAIN},{TLS},{WS},{WSS}" timeout="20" pingfreq="2"
         resolvehostnames="no" useident="no" threshold="1000000" commandrate="100000" fakelag="no"
         hardsendq="10M" softsendq="1M" recvq="64K" localmax="1000" globalmax="1000" maxconnwarn="no"
         maxchans="100" limit="5000">
<dns server="127.0.0.1" timeout="1">
<performance quietbursts="yes" softlimit="1024" somaxconn="128" netbuffersize="10240" clonesonconnect="no">
<limits maxline="8192">
<class name="all" commands="*" privs="*" usermodes="*" chanmodes="*" snomasks="*">
<type name="Admin" classes="all">
<oper name="admin" password="adminpass" host="*@*" type="Admin">
`

// InspIRCd starts InspIRCd (Debian's inspircd package) on four free
// loopback ports (plain, TLS, WebSocket, secure WebSocket) with a
// self-signed certificate, and stops it when t ends. It skips t, or fails
// it under REQUIRE_INTEGRATION=1, when inspircd is not installed.
func InspIRCd(t testing.TB) *IRCd {
	t.Helper()
	bin, err := exec.LookPath("inspircd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/inspircd"); serr == nil {
			bin = "/usr/sbin/inspircd"
		} else {
			Missing(t, "inspircd (apt-get install inspircd)")
		}
	}
	cert, err := testcert.New()
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	d := &IRCd{Cert: cert, Dir: t.TempDir(), t: t, bin: bin}
	d.Plain, d.TLS, d.WS, d.WSS = FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	for d.TLS == d.Plain || d.WS == d.Plain || d.WS == d.TLS || d.WSS == d.Plain || d.WSS == d.TLS || d.WSS == d.WS {
		d.TLS, d.WS, d.WSS = FreePort(t), FreePort(t), FreePort(t)
	}
	conf := strings.NewReplacer(
		"{DIR}", d.Dir,
		"{PLAIN}", fmt.Sprint(d.Plain), "{TLS}", fmt.Sprint(d.TLS),
		"{WS}", fmt.Sprint(d.WS), "{WSS}", fmt.Sprint(d.WSS),
	).Replace(inspircdConfig)
	for name, data := range map[string][]byte{
		"inspircd.conf": []byte(conf), "cert.pem": cert.CertPEM, "key.pem": cert.KeyPEM,
	} {
		if err := os.WriteFile(filepath.Join(d.Dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.Start()
	return d
}

// Start runs the server (again, after Stop) and waits until it accepts
// connections on every port.
func (d *IRCd) Start() {
	d.t.Helper()
	// From a directory of its own and without core dumps: on SIGTERM
	// InspIRCd 3 exits with 139 from its TLS module, which is a normal stop
	// here.
	script := `ulimit -Hc 0 2>/dev/null; ulimit -c 0 2>/dev/null; exec "$0" --config "$1" --nofork --runasroot`
	d.proc = Start(d.t, d.Dir, "sh", "-c", script, d.bin, filepath.Join(d.Dir, "inspircd.conf"))
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{d.Plain, d.TLS, d.WS, d.WSS} {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-d.proc.Done():
				d.t.Fatalf("inspircd exited; log:\n%s\n%s", d.proc.Log(), d.ircLog())
			default:
			}
			if time.Now().After(deadline) {
				d.t.Fatalf("inspircd not listening on %d after 15 s; log:\n%s\n%s", port, d.proc.Log(), d.ircLog())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop stops the server (SIGTERM to its process group) and waits.
func (d *IRCd) Stop() { d.proc.Stop() }

// Restart stops the server and starts it again on the same ports.
func (d *IRCd) Restart() {
	d.t.Helper()
	d.Stop()
	d.Start()
}

// Log returns the server's log file.
func (d *IRCd) ircLog() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "ircd.log"))
	return string(b)
}

// Addr returns 127.0.0.1:port.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
