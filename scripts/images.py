#!/usr/bin/env python3
"""Builds the kubehub container images from a local build, offline: `make images`.

Each image is one layer holding a minimal root filesystem: the binaries, every shared library
they load (the ELF interpreter included, found with ldd), /etc/passwd and /etc/group with the
user nonroot (65532), /etc/nsswitch.conf, the CA bundle, /tmp and /home/nonroot. No shell, no
package manager. The output is an OCI image layout in a tar file (`oci-archive`), which
`podman load`, `skopeo copy oci-archive:...` and containerd take; it also carries a
`manifest.json`, so `docker load` and `crane push` take it too.

Output is deterministic: fixed timestamps (SOURCE_DATE_EPOCH, else the commit's time), sorted
entries, files owned by root (except the nonroot user's home), gzip without a name or a time.
Two runs over the same build give the same digests.

The image names line up with the Helm charts: repository kubehub/<image>, tag = the project
version in CMakeLists.txt (the charts' appVersion; e2e/images_test.py checks they agree).

The Dockerfile's build stage calls this script with --rootfs to lay out the same files.
"""

import argparse
import concurrent.futures
import dataclasses
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NONROOT = 65532
BIN_DIR_IN_IMAGE = "usr/local/bin"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
GZIP_LEVEL = 4  # 6 takes twice as long for 3 % less


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    name: str  # hub, agent, metaserver
    binaries: tuple  # names in the build's bin/; the first is the entrypoint
    ports: tuple  # the binary's default listeners
    description: str

    @property
    def repository(self):
        return "kubehub/" + self.name

    @property
    def entrypoint(self):
        return "/" + BIN_DIR_IN_IMAGE + "/" + self.binaries[0]


IMAGES = {
    spec.name: spec
    for spec in (
        ImageSpec("hub", ("kubehub-hub",), (8443, 8444, 9090),
                  "kubehub hub: users' endpoint, agents' tunnels, cache"),
        ImageSpec("agent", ("kubehub-agent",), (9091,),
                  "kubehub agent: dials the hub from an edge cluster"),
        ImageSpec("metaserver", ("kubehub-metaserver", "kubehubctl"), (8443, 9090),
                  "kubehub metaserver: tenants, grants, tokens, registry (and kubehubctl)"),
    )
}

# ELF e_machine -> OCI architecture.
ARCHITECTURES = {62: "amd64", 183: "arm64", 40: "arm", 243: "riscv64", 21: "ppc64le",
                 22: "s390x"}


def fail(message):
    sys.exit("images: " + message)


# ---------------------------------------------------------------------------------------------
# Facts about the source tree and the binaries


def project_version(source_dir=SOURCE_DIR):
    """The VERSION of project() in CMakeLists.txt: the one version of binaries, images, charts."""
    with open(os.path.join(source_dir, "CMakeLists.txt")) as f:
        match = re.search(r"project\s*\(\s*kubehub\b[^)]*\bVERSION\s+([0-9][0-9A-Za-z.+-]*)",
                          f.read())
    if not match:
        fail("no project(kubehub VERSION x.y.z) in CMakeLists.txt")
    return match.group(1)


def git(source_dir, *args):
    try:
        out = subprocess.run(["git", "-C", source_dir, *args], capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def source_epoch(source_dir):
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    commit_time = git(source_dir, "log", "-1", "--format=%ct")
    return int(commit_time) if commit_time else 0


def elf_architecture(path):
    with open(path, "rb") as f:
        header = f.read(20)
    if header[:4] != b"\x7fELF":
        fail(f"{path} is not an ELF file")
    endian = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", header[18:20])
    if machine not in ARCHITECTURES:
        fail(f"{path}: unknown ELF machine {machine}")
    return ARCHITECTURES[machine]


def shared_libraries(binary):
    """Absolute paths of every library the dynamic loader maps for `binary`, loader included.

    ldd lists the whole closure (not only DT_NEEDED of the binary itself) with the paths the
    loader resolved; a library it cannot find fails the build here rather than at run time."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"ldd {binary}: {out.stderr.strip() or out.stdout.strip()}")
    paths = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            fail(f"{binary}: shared library {line.split()[0]} not found")
        match = re.match(r"(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)$", line)
        if match:
            paths.append(match.group(1))
        elif "=>" in line and not line.startswith("linux-vdso"):
            fail(f"ldd {binary}: cannot read line {line!r}")
    if not paths:
        fail(f"{binary} is not dynamically linked (ldd found no libraries)")
    return paths


def stripped_copy(binary, scratch_dir):
    """The binary without symbols and debug info (the build's is RelWithDebInfo)."""
    out = os.path.join(scratch_dir, os.path.basename(binary))
    try:
        subprocess.run(["strip", "--strip-all", "-o", out, binary], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"strip {binary}: {e} (binutils installed? --no-strip skips this)")
    return out


# ---------------------------------------------------------------------------------------------
# The root filesystem: a sorted set of entries, written as a tar or as a directory


@dataclasses.dataclass
class Entry:
    kind: bytes  # tarfile.DIRTYPE, REGTYPE or SYMTYPE
    mode: int
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""  # symlinks


class RootFs:
    """Paths relative to / (no leading slash) and what they hold."""

    def __init__(self):
        self.entries = {}

    def add_dir(self, path, mode=0o755, uid=0, gid=0):
        self._add_parents(path)
        self.entries[path] = Entry(tarfile.DIRTYPE, mode, uid, gid)

    def add_file(self, path, data, mode=0o644):
        self._add_parents(path)
        self.entries[path] = Entry(tarfile.REGTYPE, mode, data=data)

    def add_symlink(self, path, target):
        self._add_parents(path)
        self.entries[path] = Entry(tarfile.SYMTYPE, 0o777, target=target)

    def _add_parents(self, path):
        parent = os.path.dirname(path)
        if parent and parent not in self.entries:
            self.add_dir(parent)

    def copy_host_path(self, host_path, mode=None):
        """Copies a file from this machine under the same path, and every symlink on the way
        (e.g. /lib -> usr/lib on a merged-/usr system, the loader's /lib64 link): the loader
        then finds libraries in the image where it found them here."""
        current = ""
        parts = host_path.strip("/").split("/")
        while parts:
            part = parts.pop(0)
            path = f"{current}/{part}" if current else part
            host = "/" + path
            if os.path.islink(host):
                target = os.readlink(host)
                if os.path.isabs(target):  # absolute links would point outside the image
                    target = os.path.relpath(target, os.path.dirname(host))
                self.add_symlink(path, target)
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
                if resolved.startswith(".."):
                    fail(f"{host} links outside the root ({target})")
                parts = resolved.split("/") + parts
                current = ""
                continue
            if parts:
                if path not in self.entries:
                    self.add_dir(path)
            else:
                with open(host, "rb") as f:
                    data = f.read()
                file_mode = os.stat(host).st_mode & 0o7777 if mode is None else mode
                self.add_file(path, data, file_mode)
            current = path

    def tar(self, mtime):
        """The layer: an uncompressed tar, entries sorted so parents come first."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = tarfile.TarInfo(path)
                info.type = entry.kind
                info.mode = entry.mode
                info.uid, info.gid = entry.uid, entry.gid
                info.uname = info.gname = ""
                info.mtime = mtime
                if entry.kind == tarfile.SYMTYPE:
                    info.linkname = entry.target
                    tar.addfile(info)
                elif entry.kind == tarfile.REGTYPE:
                    info.size = len(entry.data)
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    tar.addfile(info)
        return buffer.getvalue()

    def write_dir(self, root):
        """The same files in a directory (the Dockerfile copies it into a scratch image)."""
        for path in sorted(self.entries):
            entry = self.entries[path]
            dest = os.path.join(root, path)
            if entry.kind == tarfile.DIRTYPE:
                os.makedirs(dest, exist_ok=True)
            elif entry.kind == tarfile.SYMTYPE:
                os.symlink(entry.target, dest)
                continue
            else:
                with open(dest, "wb") as f:
                    f.write(entry.data)
            os.chmod(dest, entry.mode)
            if os.geteuid() == 0:
                os.chown(dest, entry.uid, entry.gid)


def assemble_rootfs(spec, bin_dir, strip=True):
    root = RootFs()
    root.add_dir("tmp", mode=0o1777)
    root.add_dir("home/nonroot", uid=NONROOT, gid=NONROOT)
    root.add_file("etc/passwd", (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n").encode())
    root.add_file("etc/group", f"root:x:0:\nnonroot:x:{NONROOT}:\n".encode())
    root.add_file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    if not os.path.isfile("/" + CA_BUNDLE):
        fail(f"no CA bundle at /{CA_BUNDLE} (install ca-certificates)")
    root.copy_host_path("/" + CA_BUNDLE, mode=0o644)

    libraries = set()
    with tempfile.TemporaryDirectory() as scratch:
        for name in spec.binaries:
            binary = os.path.join(bin_dir, name)
            if not os.access(binary, os.X_OK):
                fail(f"no executable {binary} (run `make build` first)")
            libraries.update(shared_libraries(binary))
            source = stripped_copy(binary, scratch) if strip else binary
            with open(source, "rb") as f:
                root.add_file(f"{BIN_DIR_IN_IMAGE}/{name}", f.read(), 0o755)
    for library in sorted(libraries):
        root.copy_host_path(library)
    return root


# ---------------------------------------------------------------------------------------------
# OCI image layout


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclasses.dataclass
class Image:
    spec: ImageSpec
    version: str
    blobs: dict  # digest -> bytes
    manifest_digest: str
    manifest_size: int
    config_digest: str
    layer_digest: str
    architecture: str

    @property
    def reference(self):
        return f"{self.spec.repository}:{self.version}"


def build_image(spec, bin_dir, version, revision, epoch, strip=True):
    root = assemble_rootfs(spec, bin_dir, strip)
    layer_tar = root.tar(epoch)
    layer = gzip.compress(layer_tar, compresslevel=GZIP_LEVEL, mtime=0)
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    architecture = elf_architecture(os.path.join(bin_dir, spec.binaries[0]))
    labels = {
        "org.opencontainers.image.title": spec.binaries[0],
        "org.opencontainers.image.description": spec.description,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created,
    }
    config = {
        "created": created,
        "architecture": architecture,
        "os": "linux",
        "config": {
            "User": f"{NONROOT}:{NONROOT}",
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin",
                    f"SSL_CERT_FILE=/{CA_BUNDLE}"],
            "Entrypoint": [spec.entrypoint],
            "ExposedPorts": {f"{port}/tcp": {} for port in spec.ports},
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar)]},
        "history": [{"created": created, "created_by": "scripts/images.py"}],
    }
    config_json = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest_of(config_json), "size": len(config_json)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest_of(layer), "size": len(layer)}],
    }
    manifest_json = canonical_json(manifest)
    blobs = {digest_of(blob): blob for blob in (layer, config_json, manifest_json)}
    return Image(spec, version, blobs, digest_of(manifest_json), len(manifest_json),
                 digest_of(config_json), digest_of(layer), architecture)


def write_archive(image, path, epoch):
    """The OCI image layout (oci-layout, index.json, blobs/sha256/) in a tar, plus the
    `docker save` manifest.json pointing at the same blobs."""
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.manifest_digest,
            "size": image.manifest_size,
            "platform": {"architecture": image.architecture, "os": "linux"},
            "annotations": {
                # podman load names the image after this; containerd (and docker, nerdctl,
                # kind) after the fully qualified io.containerd.image.name.
                "org.opencontainers.image.ref.name": image.reference,
                "io.containerd.image.name": "docker.io/" + image.reference,
            },
        }],
    }

    def blob_path(digest):
        return "blobs/sha256/" + digest.split(":", 1)[1]

    docker_manifest = [{
        "Config": blob_path(image.config_digest),
        "RepoTags": [image.reference],
        "Layers": [blob_path(image.layer_digest)],
    }]
    files = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(index),
        "manifest.json": canonical_json(docker_manifest),
    }
    files.update({blob_path(digest): blob for digest, blob in image.blobs.items()})

    tmp = path + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.mode, info.mtime, info.size = 0o644, epoch, len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    os.replace(tmp, path)


def archive_name(spec, version):
    return f"kubehub-{spec.name}-{version}.oci.tar"


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(SOURCE_DIR, "build", "bin"),
                        help="where the built binaries are (default: build/bin)")
    parser.add_argument("--out-dir", default=os.path.join(SOURCE_DIR, "build", "images"),
                        help="where the archives go (default: build/images)")
    parser.add_argument("--version", default=None,
                        help="image tag (default: project VERSION in CMakeLists.txt)")
    parser.add_argument("--revision", default=None,
                        help="org.opencontainers.image.revision (default: git HEAD)")
    parser.add_argument("--no-strip", dest="strip", action="store_false",
                        help="keep the binaries' symbols and debug info")
    parser.add_argument("--rootfs", metavar="DIR",
                        help="write each image's root filesystem to DIR/<image>/ instead of "
                             "archives (the Dockerfile's build stage)")
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help=f"images to build: {', '.join(IMAGES)} (default: all)")
    args = parser.parse_args()
    for name in args.images:
        if name not in IMAGES:
            parser.error(f"unknown image {name!r} (images: {', '.join(IMAGES)})")

    version = args.version or project_version()
    revision = args.revision or git(SOURCE_DIR, "rev-parse", "HEAD") or "unknown"
    epoch = source_epoch(SOURCE_DIR)
    names = args.images or sorted(IMAGES)

    if args.rootfs:
        for name in names:
            target = os.path.join(args.rootfs, name)
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            assemble_rootfs(IMAGES[name], args.bin_dir, args.strip).write_dir(target)
            print(f"{target}: root filesystem of {IMAGES[name].repository}")
        return

    os.makedirs(args.out_dir, exist_ok=True)

    def build(name):
        image = build_image(IMAGES[name], args.bin_dir, version, revision, epoch, args.strip)
        path = os.path.join(args.out_dir, archive_name(image.spec, version))
        write_archive(image, path, epoch)
        return f"{path}: {image.reference} {image.manifest_digest} " \
               f"({os.path.getsize(path) / 1e6:.1f} MB)"

    # zlib and sha256 release the GIL: threads compress the images in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for line in pool.map(build, names):
            print(line)


if __name__ == "__main__":
    main()
