#!/bin/sh
# Runs inside a throwaway Debian 12 root (made by test_packages.py with mmdebstrap, which has
# installed edgewire-common, edgewire-agent and edgewire-conductor from the .debs under test):
# checks what the install did, then upgrade, remove and purge. Never on a real host.
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "installed"
getent passwd edgewire >/dev/null || fail "no edgewire user"
getent group gpio | grep -q edgewire || fail "edgewire is not in group gpio"
[ "$(getent passwd edgewire | cut -d: -f7)" = /usr/sbin/nologin ] || fail "edgewire has a login shell"
[ -f /etc/edgewire/agent.toml ] && [ -f /etc/edgewire/conductor.toml ] || fail "default configs missing"
/usr/bin/edgewire-agent version | grep -q "edgewire-agent 0.1.0" || fail "agent does not run"
/usr/bin/edgewire-conductor --help >/dev/null || fail "conductor does not run"
/usr/bin/edgewire --help >/dev/null || fail "CLI does not run"
[ -x /usr/lib/edgewire/gpio/bin/gpio ] || fail "GPIO client missing"
[ -f /lib/systemd/system/edgewire-agent.service ] || fail "agent unit missing"
# Enabled (deb-systemd-helper), not started (no systemd here, and no credential anyway).
[ -L /etc/systemd/system/multi-user.target.wants/edgewire-agent.service ] || fail "agent unit not enabled"
[ -L /etc/systemd/system/multi-user.target.wants/edgewire-conductor.service ] || fail "conductor unit not enabled"
# Updates over the air (issue 16): the path unit that starts the root helper, and the helper.
[ -L /etc/systemd/system/paths.target.wants/edgewire-agent-update.path ] || fail "update path unit not enabled"
[ -x /usr/lib/edgewire/edgewire-agent-update ] || fail "update helper missing"
# The conductor's own account and 0700 state directory (not the agent's edgewire).
getent passwd edgewire-conductor >/dev/null || fail "no edgewire-conductor user"
[ "$(getent passwd edgewire-conductor | cut -d: -f7)" = /usr/sbin/nologin ] || fail "edgewire-conductor has a login shell"
# Signed updates (issue 16): the trusted keys' directory, root's and empty until the installer fills it.
[ "$(stat -c '%a %U %F' /etc/edgewire/update-keys)" = "755 root directory" ] || fail "update-keys: $(stat -c '%a %U %F' /etc/edgewire/update-keys)"
[ -z "$(ls -A /etc/edgewire/update-keys)" ] || fail "update-keys is not empty"
command -v openssl >/dev/null || fail "openssl (the helper's signature check) is not installed"
dpkg-query -W -f='${Conffiles}\n' edgewire-agent | grep -q /etc/edgewire/agent.toml || fail "agent.toml is not a conffile"

step "upgrade keeps the installer's config"
sed -i 's/^level = "info"/level = "warn"/' /etc/edgewire/agent.toml
mkdir -p /var/lib/edgewire/functions && echo '{}' > /var/lib/edgewire/agent.json
dpkg -i /tmp/debs/upgrade/edgewire-agent_*.deb
dpkg-query -W -f='${Version}\n' edgewire-agent | grep -q '^0.1.0-2$' || fail "not upgraded"
grep -q '^level = "warn"' /etc/edgewire/agent.toml || fail "upgrade lost the edited conffile"
[ -f /var/lib/edgewire/agent.json ] || fail "upgrade lost the credential"

step "remove keeps config and state"
echo key > /etc/edgewire/update-keys/operator.pem  # the installer's trusted update key
dpkg -r edgewire-agent
[ -f /etc/edgewire/update-keys/operator.pem ] || fail "remove deleted the update keys"
[ ! -e /usr/bin/edgewire-agent ] || fail "binary left after remove"
[ -f /etc/edgewire/agent.toml ] || fail "remove deleted the conffile"
[ -f /var/lib/edgewire/agent.json ] || fail "remove deleted the credential"
dpkg-query -W -f='${Status}\n' edgewire-agent | grep -q "config-files" || fail "not in config-files state"

step "purge forgets the board"
dpkg -P edgewire-agent
[ ! -e /etc/edgewire/update-keys ] || fail "purge left the update keys"
[ ! -e /etc/edgewire/agent.toml ] || fail "purge left agent.toml"
[ ! -e /var/lib/edgewire/agent.json ] || fail "purge left the credential"
[ ! -e /var/lib/edgewire/functions ] || fail "purge left the function cache"
[ ! -e /etc/systemd/system/multi-user.target.wants/edgewire-agent.service ] || fail "purge left the enable link"
[ ! -e /etc/systemd/system/paths.target.wants/edgewire-agent-update.path ] || fail "purge left the update path unit's link"
[ -f /etc/edgewire/conductor.toml ] || fail "agent purge touched the conductor's config"

step "files planted in the agent's directory are not taken by a new or split conductor"
plant() {
  mkdir -p /var/lib/edgewire && echo planted-db > /var/lib/edgewire/edgewire.db && echo planted-pw > /var/lib/edgewire/admin-password
  chown edgewire:edgewire /var/lib/edgewire/edgewire.db /var/lib/edgewire/admin-password
}
plant
# A first install, and an upgrade from a version that already has its own directory.
sh /var/lib/dpkg/info/edgewire-conductor.postinst configure || fail "postinst (install) failed"
sh /var/lib/dpkg/info/edgewire-conductor.postinst configure 0.1.0-1 || fail "postinst (upgrade) failed"
[ ! -e /var/lib/edgewire-conductor/edgewire.db ] || fail "a planted store was taken on install or upgrade"
[ ! -e /var/lib/edgewire-conductor/admin-password ] || fail "a planted admin-password was taken on install or upgrade"
[ "$(cat /var/lib/edgewire/edgewire.db)" = planted-db ] || fail "the agent's file was touched"
rm -f /var/lib/edgewire/edgewire.db /var/lib/edgewire/admin-password

step "an older conductor's state moves to its own directory, its own files only"
plant
echo wal > /var/lib/edgewire/edgewire.db-wal && chown edgewire /var/lib/edgewire/edgewire.db-wal
# What the agent's user could have put beside them: a link to a root-only file, a file of root's.
ln -s /etc/shadow /var/lib/edgewire/edgewire.db-shm
mkdir -p /var/lib/edgewire/edgewire.db.functions/pkgs && echo pkg > /var/lib/edgewire/edgewire.db.functions/pkgs/a.tar.gz
chown -R edgewire:edgewire /var/lib/edgewire/edgewire.db.functions
ln -s /etc/shadow /var/lib/edgewire/edgewire.db.functions/pkgs/shadow.tar.gz
chown -h edgewire /var/lib/edgewire/edgewire.db.functions/pkgs/shadow.tar.gz
# What dpkg runs on an upgrade from such a version.
sh /var/lib/dpkg/info/edgewire-conductor.postinst configure 0.1.0-0 || fail "postinst failed"
[ "$(cat /var/lib/edgewire-conductor/admin-password)" = planted-pw ] || fail "admin-password not moved"
[ ! -e /var/lib/edgewire/admin-password ] || fail "admin-password left in the agent's directory"
# Mode 0700 now; the owner is handed over by systemd when the unit starts (StateDirectory=).
[ "$(stat -c '%a %U' /var/lib/edgewire-conductor)" = "700 root" ] || fail "state directory: $(stat -c '%a %U' /var/lib/edgewire-conductor)"
[ -f /var/lib/edgewire-conductor/edgewire.db ] || fail "store not moved"
[ -f /var/lib/edgewire-conductor/edgewire.db-wal ] || fail "store's WAL not moved"
[ ! -e /var/lib/edgewire-conductor/edgewire.db-shm ] && [ ! -L /var/lib/edgewire-conductor/edgewire.db-shm ] ||
  fail "a symbolic link was migrated"
[ -f /var/lib/edgewire-conductor/edgewire.db.functions/pkgs/a.tar.gz ] || fail "function packages not moved"
[ ! -L /var/lib/edgewire-conductor/edgewire.db.functions/pkgs/shadow.tar.gz ] || fail "a link among the function packages was migrated"
[ -z "$(ls -A /var/lib/edgewire-conductor | grep migrating)" ] || fail "temporary names left: $(ls -A /var/lib/edgewire-conductor)"
[ -f /etc/shadow ] || fail "the link's target was touched"

step "a file of root's in the agent's directory is not migrated"
rm -rf /var/lib/edgewire-conductor
echo root-db > /var/lib/edgewire/edgewire.db
sh /var/lib/dpkg/info/edgewire-conductor.postinst configure 0.1.0-0 || fail "postinst failed"
[ ! -e /var/lib/edgewire-conductor/edgewire.db ] || fail "a store owned by root (not the old conductor's account) was migrated"

step "purge the rest"
mkdir -p /var/lib/edgewire && touch /var/lib/edgewire/edgewire.db /var/lib/edgewire/admin-password
dpkg -P edgewire-conductor edgewire-common
[ ! -e /var/lib/edgewire ] || fail "purge left /var/lib/edgewire: $(ls -A /var/lib/edgewire)"
[ ! -e /var/lib/edgewire-conductor ] || fail "purge left /var/lib/edgewire-conductor"
[ ! -e /etc/edgewire ] || fail "purge left /etc/edgewire: $(ls -A /etc/edgewire)"
[ ! -e /usr/lib/edgewire ] || fail "purge left /usr/lib/edgewire"
echo "package lifecycle: OK"
