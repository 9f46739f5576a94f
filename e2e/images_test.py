"""The container images of `make images` (scripts/images.py), checked without a container runtime.

Builds the OCI archives from the binaries under test into a temporary directory, then for each:
the OCI layout (oci-layout, index.json, every blob named by its sha256 and described with its
size, media types, index -> manifest -> config -> layer, the layer's diff_id), the `docker load`
manifest.json, the layer's file ownership; the config (non-root user, entrypoint, labels);
that every binary runs `--help` with the image's own dynamic loader and libraries and nothing
of this machine's (and, as root, inside a chroot of the image as the image's user); that
removing a library from the image is caught; that skopeo (when installed) copies each as an OCI
archive and as a `docker save` archive; that a second build is byte-identical; and that the Helm
charts and the Dockerfile name the same repositories, tags, entrypoints and ports.
"""
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
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "images.py")
# image -> binaries it carries (the first is the entrypoint)
IMAGES = {
    "hub": ["kubehub-hub"],
    "agent": ["kubehub-agent"],
    "metaserver": ["kubehub-metaserver", "kubehubctl"],
}
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
NONROOT_HOME = "home/nonroot"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_archives(out_dir, *images):
    subprocess.run([sys.executable, SCRIPT, "--bin-dir", e2e.BIN_DIR, "--out-dir", out_dir,
                    *images], check=True, capture_output=True, text=True)


def archive_path(out_dir, name):
    [found] = [f for f in os.listdir(out_dir) if f.startswith(f"kubehub-{name}-")]
    return os.path.join(out_dir, found)


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(kubehub VERSION (\S+)", f.read()).group(1)


class OciImage:
    """An oci-archive read and checked: raises AssertionError on any inconsistency."""

    def __init__(self, path):
        with tarfile.open(path) as tar:
            self.files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()
                          if m.isfile()}
        check(json.loads(self.files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"},
              "oci-layout")
        for name, blob in self.files.items():
            if name.startswith("blobs/"):
                check(name == "blobs/" + sha256(blob).replace(":", "/"),
                      f"{name} does not hold what its name says")
        index = json.loads(self.files["index.json"])
        check(index.get("schemaVersion") == 2 and index.get("mediaType") == INDEX, "index.json")
        check(len(index["manifests"]) == 1, "one manifest in index.json")
        descriptor = index["manifests"][0]
        self.annotations = descriptor.get("annotations", {})
        self.manifest_bytes = self.blob(descriptor, MANIFEST)
        self.manifest = json.loads(self.manifest_bytes)
        check(self.manifest.get("schemaVersion") == 2 and
              self.manifest.get("mediaType") == MANIFEST, "manifest")
        self.config = json.loads(self.blob(self.manifest["config"], CONFIG))
        check(len(self.manifest["layers"]) == 1, "one layer")
        self.layer = gzip.decompress(self.blob(self.manifest["layers"][0], LAYER))
        check(self.config["rootfs"] == {"type": "layers", "diff_ids": [sha256(self.layer)]},
              "the config's diff_ids are the layer's uncompressed digest")
        check(descriptor.get("platform") == {"architecture": self.config["architecture"],
                                             "os": self.config["os"]}, "platform")
        # `docker load` and `crane push` read manifest.json: the same blobs.
        [docker] = json.loads(self.files["manifest.json"])
        check(docker["Config"] == "blobs/" + self.manifest["config"]["digest"].replace(":", "/")
              and docker["Layers"] == ["blobs/" + self.manifest["layers"][0]["digest"]
                                       .replace(":", "/")], "manifest.json names other blobs")
        check(docker["RepoTags"] == [self.reference], "manifest.json's RepoTags")

    def blob(self, descriptor, media_type):
        check(descriptor["mediaType"] == media_type, f"media type {descriptor['mediaType']}")
        path = "blobs/" + descriptor["digest"].replace(":", "/")
        check(path in self.files, f"missing blob {descriptor['digest']}")
        data = self.files[path]
        check(len(data) == descriptor["size"], f"size of {descriptor['digest']}")
        return data

    @property
    def reference(self):
        return self.annotations["org.opencontainers.image.ref.name"]

    def layer_members(self):
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as tar:
            return tar.getmembers()

    def extract(self, root):
        for member in self.layer_members():
            check(not member.name.startswith("/") and ".." not in member.name.split("/"),
                  f"layer path {member.name}")
            check(not (member.issym() and member.linkname.startswith("/")),
                  f"absolute symlink {member.name} (would point outside the image)")
        # Python >= 3.12 asks for an extraction filter; "tar" keeps owners, refuses escapes.
        safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as tar:
            tar.extractall(root, **safe)


def check(condition, what):
    if not condition:
        raise AssertionError("broken archive: " + what)


def elf_interpreter(path):
    """PT_INTERP of a 64-bit ELF executable: the dynamic loader it asks for."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:4] == b"\x7fELF" and data[4] == 2, f"{path} is a 64-bit ELF file")
    e = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(e + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(e + "HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from(e + "I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            offset, = struct.unpack_from(e + "Q", data, phoff + i * phentsize + 8)
            size, = struct.unpack_from(e + "Q", data, phoff + i * phentsize + 32)
            return data[offset:offset + size].rstrip(b"\0").decode()
    raise AssertionError(f"{path} has no dynamic loader")


def inside(root, path):
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


class ImageRoot:
    """An image's layer unpacked in a directory, and how to run its binaries from there."""

    def __init__(self, root):
        self.root = root
        # Every directory of the image holding a shared library, resolved (lib -> usr/lib).
        dirs = set()
        for directory, _, files in os.walk(root):
            if any(".so" in f for f in files):
                dirs.add(os.path.realpath(directory))
        self.library_path = ":".join(sorted(dirs))

    def loader_command(self, binary, *args, options=()):
        loader = self.root + elf_interpreter(self.root + binary)
        check(os.path.exists(loader) and inside(self.root, loader),
              f"the loader {loader} is in the image")
        return [loader, *options, "--library-path", self.library_path, self.root + binary, *args]

    def run(self, command):
        # Nothing from this machine's environment can add libraries.
        env = {"PATH": "/usr/bin:/bin", "LANG": "C"}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    def libraries_outside(self, binary):
        """What the image's loader maps from outside the image (ld.so --list). The image's
        library directories come first, so a library the image lacks shows up as this
        machine's, or as not found."""
        out = self.run(self.loader_command(binary, options=["--list"]))
        if out.returncode != 0:
            return [out.stderr.strip() or out.stdout.strip() or "ld.so --list failed"]
        outside = []
        for line in out.stdout.splitlines():
            # "libssl.so.3 => /path (0x...)", "/lib64/ld-linux-x86-64.so.2 => /path (0x...)",
            # "linux-vdso.so.1 (0x...)", "libfoo.so => not found"
            target = line.split("=>", 1)[-1].strip()
            path = target.split(" (0x", 1)[0]
            if target.startswith("not found") or (path.startswith("/") and
                                                  not inside(self.root, path)):
                outside.append(line.strip())
        return outside


class ImagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir(prefix="kubehub-images-")
        cls.out = cls.work.join("first")
        try:
            build_archives(cls.out)
        except subprocess.CalledProcessError as e:
            cls.work.close()
            raise AssertionError(f"scripts/images.py failed: {e.stderr}") from e
        cls._images = {}
        cls._roots = {}

    @classmethod
    def tearDownClass(cls):
        cls.work.close()

    def image(self, name):
        if name not in self._images:
            self._images[name] = OciImage(archive_path(self.out, name))
        return self._images[name]

    def root(self, name):
        if name not in self._roots:
            root = self.work.join("root-" + name)
            self.image(name).extract(root)
            self._roots[name] = ImageRoot(root)
        return self._roots[name]

    def test_archives_are_valid_oci_layouts_named_like_the_charts(self):
        version = project_version()
        for name in IMAGES:
            with self.subTest(image=name):
                self.assertEqual(os.path.basename(archive_path(self.out, name)),
                                 f"kubehub-{name}-{version}.oci.tar")
                image = self.image(name)
                self.assertEqual(image.reference, f"kubehub/{name}:{version}")
                self.assertEqual(image.annotations["io.containerd.image.name"],
                                 f"docker.io/kubehub/{name}:{version}")

    def test_layer_holds_root_owned_files_but_the_users_home(self):
        for name in IMAGES:
            with self.subTest(image=name):
                members = {m.name: m for m in self.image(name).layer_members()}
                for m in members.values():
                    owner = 65532 if m.name == NONROOT_HOME else 0
                    self.assertEqual((m.uid, m.gid), (owner, owner), m.name)
                self.assertTrue(members["tmp"].isdir())
                self.assertEqual(members["tmp"].mode, 0o1777)
                self.assertTrue(members["etc/ssl/certs/ca-certificates.crt"].size > 0)
                self.assertNotIn("bin/sh", members)
                self.assertNotIn("usr/bin/sh", members)

    def test_config_runs_the_binary_as_nonroot(self):
        revision = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "HEAD"],
                                  capture_output=True, text=True).stdout.strip()
        for name, binaries in IMAGES.items():
            with self.subTest(image=name):
                image = self.image(name)
                config = image.config["config"]
                uid, _, gid = config["User"].partition(":")
                self.assertTrue(uid.isdigit() and int(uid) != 0, config["User"])
                self.assertEqual(config["Entrypoint"], ["/usr/local/bin/" + binaries[0]])
                self.assertTrue(config["ExposedPorts"])
                labels = config["Labels"]
                self.assertEqual(labels["org.opencontainers.image.version"], project_version())
                if revision:
                    self.assertEqual(labels["org.opencontainers.image.revision"], revision)
                passwd = self.image_file(name, "etc/passwd")
                self.assertIn(f":{uid}:{gid or uid}:", passwd)

    def image_file(self, name, path):
        with open(os.path.join(self.root(name).root, path)) as f:
            return f.read()

    def test_binaries_run_with_the_images_loader_and_libraries_only(self):
        for name, binaries in IMAGES.items():
            root = self.root(name)
            for binary in binaries:
                path = "/usr/local/bin/" + binary
                with self.subTest(binary=binary):
                    self.assertEqual(root.libraries_outside(path), [])
                    out = root.run(root.loader_command(path, "--help"))
                    self.assertEqual(out.returncode, 0, out.stderr)
                    self.assertIn(f"Usage: {binary}", out.stdout)

    def test_binaries_run_inside_the_image_as_its_user(self):
        chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin")
        if os.geteuid() != 0 or not chroot:
            self.skipTest("chroot needs root")
        for name, binaries in IMAGES.items():
            root = self.root(name)
            user = self.image(name).config["config"]["User"]
            for binary in binaries:
                with self.subTest(binary=binary):
                    out = root.run([chroot, f"--userspec={user}", root.root,
                                    "/usr/local/bin/" + binary, "--help"])
                    if out.returncode == 125 and "Operation not permitted" in out.stderr:
                        self.skipTest("chroot not permitted here")
                    self.assertEqual(out.returncode, 0, out.stderr)
                    self.assertIn(f"Usage: {binary}", out.stdout)

    def test_a_library_missing_from_the_image_is_caught(self):
        # The checks above must not pass by finding this machine's libraries.
        root = self.root("agent")
        [libstdcxx] = [os.path.join(d, "libstdc++.so.6") for d in root.library_path.split(":")
                       if os.path.exists(os.path.join(d, "libstdc++.so.6"))]
        real = os.path.realpath(libstdcxx)
        os.rename(real, real + ".gone")
        try:
            outside = root.libraries_outside("/usr/local/bin/kubehub-agent")
            self.assertTrue(any("libstdc++" in line for line in outside), outside)
        finally:
            os.rename(real + ".gone", real)

    def test_a_corrupted_blob_is_caught(self):
        with tarfile.open(archive_path(self.out, "agent")) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        config = "blobs/" + self.image("agent").manifest["config"]["digest"].replace(":", "/")
        files[config] = files[config].replace(b"65532", b"00000")
        broken = self.work.join("broken.oci.tar")
        with tarfile.open(broken, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        with self.assertRaisesRegex(AssertionError, "does not hold what its name says"):
            OciImage(broken)

    def test_skopeo_reads_them_as_podman_and_docker_load_do(self):
        skopeo = shutil.which("skopeo")
        if not skopeo:
            self.skipTest("skopeo not installed (make deps installs it)")
        for name in IMAGES:
            image = self.image(name)
            path = archive_path(self.out, name)
            with self.subTest(image=name):
                # As an OCI archive, by the name podman load gives it: skopeo checks every
                # digest and size on the way, and copies the manifest as it is.
                oci = self.work.join("skopeo-oci-" + name)
                self.skopeo(skopeo, f"oci-archive:{path}:{image.reference}", "oci:" + oci)
                with open(os.path.join(oci, "index.json")) as f:
                    [copied] = json.load(f)["manifests"]
                self.assertEqual(copied["digest"], sha256(image.manifest_bytes))
        # As a `docker save` archive (manifest.json; the same in every archive).
        self.skopeo(skopeo, "docker-archive:" + archive_path(self.out, "agent"),
                    "dir:" + self.work.join("skopeo-dir-agent"))

    def skopeo(self, skopeo, source, destination):
        out = subprocess.run([skopeo, "--insecure-policy", "copy", "--quiet", source,
                              destination], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, f"skopeo copy {source}: {out.stderr}")

    def test_a_second_build_is_identical(self):
        second = self.work.join("second")
        build_archives(second, "agent")
        with open(archive_path(self.out, "agent"), "rb") as a, \
                open(archive_path(second, "agent"), "rb") as b:
            self.assertEqual(sha256(a.read()), sha256(b.read()))

    def test_helm_charts_pull_these_images(self):
        import yaml
        charts = os.path.join(SOURCE_DIR, "deploy", "helm")
        checked = []
        for chart in sorted(os.listdir(charts)):
            name = chart.removeprefix("kubehub-")
            if name not in IMAGES:
                continue
            with open(os.path.join(charts, chart, "Chart.yaml")) as f:
                app_version = str(yaml.safe_load(f)["appVersion"])
            with open(os.path.join(charts, chart, "values.yaml")) as f:
                values = yaml.safe_load(f)
            with self.subTest(chart=chart):
                repository, tag = self.image(name).reference.rsplit(":", 1)
                self.assertEqual(values["image"]["repository"], repository)
                self.assertEqual(app_version, tag,
                                 f"{chart}'s appVersion is not the images' tag: the version is "
                                 "project(VERSION) in CMakeLists.txt")
                self.assertIn(values["image"].get("tag") or "", ("", tag))
            checked.append(chart)
        self.assertIn("kubehub-agent", checked)

    def test_dockerfile_builds_the_same_images(self):
        with open(os.path.join(SOURCE_DIR, "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn(f"ARG VERSION={project_version()}\n", dockerfile)
        stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile,
                                 re.M | re.S))
        for name in IMAGES:
            with self.subTest(image=name):
                stage = stages[name]
                config = self.image(name).config["config"]
                entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", stage, re.M).group(1))
                self.assertEqual(entrypoint, config["Entrypoint"])
                exposed = re.search(r"^EXPOSE (.*)$", stage, re.M).group(1).split()
                self.assertEqual({p + "/tcp" for p in exposed}, set(config["ExposedPorts"]))
                self.assertIn(f"COPY --from=build /rootfs/{name}/ /", stage)
        self.assertIn(f"USER {self.image('hub').config['config']['User']}", stages["runtime"])
        # The build stage installs a subset of `make deps` (plus python3 for scripts/images.py).
        with open(os.path.join(SOURCE_DIR, "Makefile")) as f:
            makefile = f.read()
        deb_packages = set(re.search(r"^DEB_PACKAGES := (.*?)(?<!\\)\n", makefile,
                                     re.M | re.S).group(1).replace("\\\n", " ").split())
        install = re.search(r"--no-install-recommends \\\n(.*?)\n &&", stages["build"],
                            re.S).group(1)
        packages = set(install.replace("\\", " ").split())
        self.assertTrue(packages)
        self.assertEqual(packages - deb_packages, {"python3"})


if __name__ == "__main__":
    unittest.main()
