# The command `pulumi up` (and the lab) runs on a host, as root, for its apply: stdin is the
# host's bundle, a base64 gzip tar of the apply program, bundle.json, secrets.sha256 and, when
# the host has secrets, secrets.json (their values). The command line is this file's text
# (`python3 -I -S -c <this file>`, see applyCommand in src/bundle): no file has to be on the host
# before the first apply, and nothing but Debian's python3 (every cloud image has it: cloud-init
# is written in it) is needed.
#
# Python rather than POSIX sh: a process start costs 0.1-0.3 s in a small VM (and in a lab
# guest); the shell version started seven (mktemp, base64, tar, gzip, cmp, python3, rm), about
# 1.5 s of a 3 s no-op apply. Here the archive is read in this process and the apply program
# runs in it too (runpy), so a no-op apply starts one interpreter and, for the units it asks
# about, one systemctl.
#
# Unpacked into a private temp dir that is removed whatever happens; the program's exit status
# is the command's (0 applied or unchanged, 1 refused, 2 rolled back, 3 rollback failed — see
# scripts/maglev-apply), 4 when the bundle did not arrive whole or its secrets could not be
# installed (nothing was changed). Only the four names above are taken from the archive, as
# regular files: a crafted archive cannot write elsewhere.
#
# Secrets travel inside the apply (no command of their own): one SSH session per host apply,
# and the values arrive together with the bundle that needs them, so no run can leave new
# secrets next to an old bundle (or the reverse). secrets.json is installed as
# /etc/maglev-infra/secrets.json, root-only (0600) and atomically, and only when it differs;
# the program then verifies its sha256 against secrets.sha256, fills the placeholders from it
# and never prints a value. Nothing here prints one either.
#
# MAGLEV_ROOT (tests only, as maglev-apply's --root): a directory standing in for / for the
# secrets file.
import base64
import binascii
import io
import os
import runpy
import shutil
import sys
import tarfile
import zlib

NAMES = ("maglev-apply", "bundle.json", "secrets.sha256", "secrets.json")


def fail(message):
    sys.stderr.write(f"maglev-apply: {message}; nothing was changed\n")
    sys.exit(4)


def unpack(data):
    """The archive's members by name (only NAMES, regular files), or None if it is not whole."""
    try:
        # 16 + MAX_WBITS: a gzip stream; the decompressor fails on a truncated one.
        tar = zlib.decompress(base64.b64decode(data, validate=False), 16 + zlib.MAX_WBITS)
        members = {}
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as t:
            for m in t.getmembers():
                if m.name in NAMES and m.isreg():
                    members[m.name] = t.extractfile(m).read()
    except (binascii.Error, zlib.error, tarfile.TarError, EOFError, ValueError):
        return None
    if not all(n in members for n in NAMES[:3]):
        return None
    return members


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def install_secrets(data, path):
    """Replace path with data (0600, atomically) unless it holds exactly that already."""
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except OSError:
        pass
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = f"{os.path.dirname(path)}/.secrets.json.{os.urandom(6).hex()}"
        write_private(tmp, data)
        os.rename(tmp, path)
        tmp = None
    except OSError:
        fail(f"could not install {path}")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def main():
    os.umask(0o077)
    members = unpack(sys.stdin.buffer.read())
    if members is None:
        fail("the bundle did not arrive whole (base64, gzip or tar failed)")
    secrets = os.environ.get("MAGLEV_ROOT", "") + "/etc/maglev-infra/secrets.json"
    if members.get("secrets.json"):
        install_secrets(members["secrets.json"], secrets)
    d = f"/tmp/maglev-apply.{os.urandom(6).hex()}"
    os.mkdir(d, 0o700)
    code = 1
    try:
        for name, data in members.items():
            if name != "secrets.json":
                write_private(os.path.join(d, name), data)
        prog = os.path.join(d, "maglev-apply")
        sys.argv = [prog, "--bundle", f"{d}/bundle.json", "--secrets", secrets,
                    "--secrets-sha256-file", f"{d}/secrets.sha256"]
        try:
            runpy.run_path(prog, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    finally:
        # Keep the program's status: a failing cleanup must not replace it.
        shutil.rmtree(d, ignore_errors=True)
    sys.stdout.flush()
    sys.exit(code)


main()
