# reproducible-build.nix — the attested-pack enclave image from the same pinned inputs as
# `attested-pack eif build --locked`: everything it fetches is read from eif-build/image.lock.json.
#
#   nix-build reproducible-build.nix --argstr commit "$(git rev-parse HEAD)"      # → ./result/{enclave.eif,measurements.json}
#   nix-build reproducible-build.nix --argstr commit "$(git rev-parse HEAD)" \
#     --arg serveArgs '[ "serve" "--kms-region" "us-east-1" "--wrap-key" "arn:aws:kms:…" ]'   # the image's /cmd arguments
#
# Build from a clean checkout: the commit is stamped into the bundle (PCR2), so it must be the one
# the tree holds. Then compare ./result/measurements.json with `attested-pack eif build --locked`
# on any machine, or with a receipt (`attested-pack audit`): PCR0/1/2 must be identical, because the
# inputs are the same bytes and the same CLI checks them against the same lock:
#   - the Node runtime: the npm registry tarball of lock.runtime (fetched by its npm integrity);
#   - its shared libraries: the Debian .debs of lock.libraries (by SHA-256), unpacked → --lib-root;
#   - the vsock addon's compiler: the 48 Debian .debs of lock.addon.toolchain (by SHA-256), unpacked
#     into a root and run with proot, so the addon is compiled by exactly the locked gcc/binutils;
#   - nitro-cli's boot blobs: aws/aws-nitro-enclaves-cli at cliRev, each blob checked against the
#     lock's git blob id;
#   - the npm dependencies: importNpmLock (every package of package-lock.json by its integrity).
# Debian mirrors drop superseded versions: when deb.debian.org no longer has a file, the same file
# (same SHA-256) is on snapshot.debian.org — add its URL to `debUrls` below; the hash stays.
#
# Needs the network (nixpkgs, npm, Debian, GitHub). Without it, `inputsOnly = true` evaluates the
# list of pinned inputs (no fetch), which the test suite compares with the lock.
{ arch ? "x86_64", commit ? null, serveArgs ? [ ], inputsOnly ? false }:
let
  lock = builtins.fromJSON (builtins.readFile ./eif-build/image.lock.json);

  cliRev = "2950b3699d81ad304df2458915688a552734833d";
  kernelName = if arch == "aarch64" then "Image" else "bzImage";
  blobIds = builtins.mapAttrs (_: f: f.gitBlobId) lock.bootBlobs.nitroCli.files;

  debUrls = d: [ "https://deb.debian.org/debian/${d.filename}" ];
  dedupe = list: builtins.attrValues (builtins.listToAttrs (map (d: { name = d.filename; value = d; }) list));
  libraryDebs = dedupe (map (l: { inherit (l.debian) package version filename debSha256; }) lock.libraries);
  toolchainDebs = lock.addon.toolchain.debian;

  runtimeUrl = "https://registry.npmjs.org/${lock.runtime.package}/-/${lock.runtime.package}-${lock.runtime.version}.tgz";

  buildArgs = [ "eif" "build" "--locked" "release" "--project-root" "." ]
    ++ [ "--blobs" "@blobs@" "--lib-root" "@libroot@" "--source-revision" "@commit@" ]
    ++ builtins.concatMap (a: [ "--arg=${a}" ]) serveArgs
    ++ [ "-o" "@out@/enclave.eif" "--measurements" "@out@/measurements.json" ];

  inputs = {
    inherit cliRev blobIds buildArgs;
    runtime = { url = runtimeUrl; hash = lock.runtime.integrity; };
    libraries = map (d: { urls = debUrls d; sha256 = d.debSha256; }) libraryDebs;
    toolchain = map (d: { urls = debUrls d; sha256 = d.debSha256; }) toolchainDebs;
  };

  image =
    let
      nixpkgs = builtins.fetchTarball {
        url = "https://github.com/NixOS/nixpkgs/archive/992f916556fcfaa94451ebc7fc6e396134bbf5b1.tar.gz";
        sha256 = "0wbqb6sy58q3mnrmx67ffdx8rq10jg4cvh4jx3rrbr1pqzpzsgxc";
      };
      pkgs = import nixpkgs { config = { }; overlays = [ ]; };
      lib = pkgs.lib;
      rev = if commit != null then commit else lib.commitIdFromGitRepo ./.git;

      fetchDeb = d: pkgs.fetchurl { urls = debUrls d; sha256 = d.debSha256; name = "${d.package}_${builtins.replaceStrings [ ":" "~" "+" ] [ "_" "_" "_" ] d.version}.deb"; };
      unpackDebs = name: debs: pkgs.runCommand name { nativeBuildInputs = [ pkgs.dpkg ]; } ''
        mkdir -p $out
        ${lib.concatMapStringsSep "\n" (d: "dpkg-deb -x ${fetchDeb d} $out") debs}
      '';
      libRoot = unpackDebs "attested-pack-locked-libraries" libraryDebs;
      toolRoot = unpackDebs "attested-pack-locked-toolchain" toolchainDebs;
      # `cc` for the addon: the locked Debian gcc-12 in its own root (binding the store and the build dir).
      cc = pkgs.writeShellScript "locked-cc" ''
        exec ${pkgs.proot}/bin/proot -r ${toolRoot} -b /nix/store -b "$TMPDIR" -b /proc -b /dev -w "$PWD" /usr/bin/gcc-12 "$@"
      '';
      runtimeTgz = pkgs.fetchurl { url = runtimeUrl; hash = lock.runtime.integrity; };

      cliSource = builtins.fetchGit { url = "https://github.com/aws/aws-nitro-enclaves-cli"; rev = cliRev; };
      blobs = pkgs.runCommand "nitro-cli-blobs-${arch}-${builtins.substring 0 8 cliRev}" { nativeBuildInputs = [ pkgs.git ]; } ''
        mkdir -p $out
        cp ${cliSource}/blobs/${arch}/{${kernelName},${kernelName}.config,cmdline,init,nsm.ko} $out/
        cp $out/${kernelName} $out/kernel
        ${lib.concatStringsSep "\n" (lib.mapAttrsToList (name: id: ''
          got=$(git hash-object $out/${name})
          [ "$got" = "${id}" ] || { echo "blob ${name}: git blob id $got, the lock says ${id}" >&2; exit 1; }
        '') blobIds)}
        rm $out/kernel
      '';

      src = lib.cleanSourceWith {
        src = ./.;
        filter = path: type:
          !(builtins.elem (baseNameOf (toString path)) [ "node_modules" "dist" "build" "result" ".git" ".attested-pack-sim" ]);
      };
      subst = s: builtins.replaceStrings [ "@blobs@" "@libroot@" "@commit@" "@out@" ] [ "${blobs}" "${libRoot}" rev (builtins.placeholder "out") ] s;
    in
    assert arch == lock.arch;
    pkgs.buildNpmPackage {
      pname = "attested-pack-enclave-${arch}";
      version = (builtins.fromJSON (builtins.readFile ./package.json)).version;
      inherit src;
      nodejs = pkgs.nodejs_22;
      npmDeps = pkgs.importNpmLock { npmRoot = ./.; };
      npmConfigHook = pkgs.importNpmLock.npmConfigHook;
      npmFlags = [ "--ignore-scripts" ];
      dontNpmBuild = true;
      buildPhase = ''
        runHook preBuild
        export HOME=$TMPDIR TZ=UTC LC_ALL=C
        node scripts/build.mjs
        mkdir -p eif-build/runtime/node_modules/${lock.runtime.package}
        tar -xzf ${runtimeTgz} --strip-components=1 -C eif-build/runtime/node_modules/${lock.runtime.package}
        mkdir -p $out
        CC=${cc} node dist/cli.mjs ${lib.escapeShellArgs (map subst buildArgs)}
        runHook postBuild
      '';
      installPhase = "true";
      dontFixup = true;
    };
in
if inputsOnly then inputs else image
