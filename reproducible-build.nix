# reproducible-build.nix — the attested-pack enclave image, built from pinned inputs only.
#
#   nix-build reproducible-build.nix                       # x86_64 → ./result/{enclave.eif,measurements.json}
#   nix-build reproducible-build.nix --argstr arch aarch64 # on an aarch64 builder
#
# Needs a networked machine with Nix (it downloads nixpkgs, the npm packages of package-lock.json
# and the AWS boot blobs; every download is pinned by a hash, and a mismatch fails the build).
# Then compare ./result/measurements.json with the one CI or your colleague got: PCR0/1/2 must be
# identical. The steps are the same `attested-pack eif …` commands anyone can run by hand.
#
# Pins:
#   - nixpkgs: a nixos-unstable commit (2025-06) as a tarball with its sha256 (Nix verifies it).
#   - npm dependencies: importNpmLock fetches every package of package-lock.json by its
#     `integrity` hash — no separate npmDepsHash to keep in sync.
#   - AWS boot blobs (kernel, cmdline, init, nsm.ko): aws/aws-nitro-enclaves-cli at commit
#     2950b3699d81ad304df2458915688a552734833d ("Prepare release 1.5.0"), fetched by that commit
#     hash with builtins.fetchGit, and each blob checked against its git blob id (the ids listed
#     in shared/vectors/eif/README.md) before use. fetchGit clones the history once (it is cached
#     in ~/.cache/nix); to avoid that, replace `cliSource` by one `fetchurl` per blob from
#     https://raw.githubusercontent.com/aws/aws-nitro-enclaves-cli/<commit>/blobs/<arch>/<file>
#     with the sha256 printed by `nix-prefetch-url <url>` — the git blob id checks stay.
{ arch ? "x86_64" }:
let
  nixpkgs = builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/992f916556fcfaa94451ebc7fc6e396134bbf5b1.tar.gz";
    sha256 = "0wbqb6sy58q3mnrmx67ffdx8rq10jg4cvh4jx3rrbr1pqzpzsgxc";
  };
  pkgs = import nixpkgs { config = { }; overlays = [ ]; };
  lib = pkgs.lib;

  # The Node runtime that goes into the image (with its shared-library closure).
  nodejs = pkgs.nodejs_20;

  cliRev = "2950b3699d81ad304df2458915688a552734833d";
  cliSource = builtins.fetchGit {
    url = "https://github.com/aws/aws-nitro-enclaves-cli";
    rev = cliRev;
  };

  kernelName = if arch == "aarch64" then "Image" else "bzImage";

  # git blob ids (`git hash-object`) of the blobs at cliRev — shared/vectors/eif/vectors.json.
  blobIds = {
    x86_64 = {
      bzImage = "1b7b48cfb6eab842005d3f80a46d0225a27f9fc2";
      init = "122b5d1514316b1b553fb486445fe1482a48b8c8";
      "nsm.ko" = "24cbfe5dd041b75d731bd3feda9748b75883be7f";
      cmdline = "b3b51ddf3555e116d0bb2b5d9354c93036868ab1";
    };
    aarch64 = {
      Image = "5503018854dbc9ff4e3356d0912eb8d3256c6af6";
      init = "4825177283ee249df32fc07e129805380fe62a64";
      "nsm.ko" = "1f3fd871816513430a5a5911ca729dded5bb5409";
      cmdline = "347d16b9720a63744e2018431250fbac2658721d";
    };
  }.${arch};

  # The blobs directory, each file verified by its git blob id.
  blobs = pkgs.runCommand "nitro-cli-blobs-${arch}-${builtins.substring 0 8 cliRev}" {
    nativeBuildInputs = [ pkgs.git ];
  } ''
    mkdir -p $out
    for f in ${lib.concatStringsSep " " (builtins.attrNames blobIds)} ${kernelName}.config; do
      cp ${cliSource}/blobs/${arch}/$f $out/$f
    done
    ${lib.concatStringsSep "\n" (lib.mapAttrsToList (name: id: ''
      got=$(git hash-object $out/${name})
      if [ "$got" != "${id}" ]; then
        echo "blob ${name}: git blob id $got, expected ${id}" >&2
        exit 1
      fi
    '') blobIds)}
  '';

  # This repository, without build outputs and VCS metadata.
  src = lib.cleanSourceWith {
    src = ./.;
    filter = path: type:
      let base = baseNameOf (toString path); in
      !(builtins.elem base [ "node_modules" "dist" "build" "result" ".git" ".attested-pack-sim" ]);
  };
in
pkgs.buildNpmPackage {
  pname = "attested-pack-enclave-${arch}";
  version = (builtins.fromJSON (builtins.readFile ./package.json)).version;
  inherit src nodejs;

  npmDeps = pkgs.importNpmLock { npmRoot = ./.; };
  npmConfigHook = pkgs.importNpmLock.npmConfigHook;
  # Install scripts stay off: esbuild finds its binary in @esbuild/<platform> (in the lockfile),
  # cbor-extract is optional, and the vsock addon is built explicitly below.
  npmFlags = [ "--ignore-scripts" ];
  dontNpmBuild = true;

  nativeBuildInputs = [ pkgs.python3 ];

  buildPhase = ''
    runHook preBuild
    export HOME=$TMPDIR SOURCE_DATE_EPOCH=0 TZ=UTC LC_ALL=C
    node scripts/build.mjs

    # The AF_VSOCK addon (vsock/native), if the repository has one: built against this nodejs.
    if [ -f vsock/native/binding.gyp ]; then
      (cd vsock/native && npm_config_nodedir=${nodejs} node ${nodejs}/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild)
    fi

    node dist/cli.mjs eif bundle --entry enclave-app/enclave-main.ts --project-root . -o $TMPDIR/enclave/enclave.mjs
    node dist/cli.mjs eif rootfs --bundle $TMPDIR/enclave/enclave.mjs --node ${nodejs}/bin/node --tree $TMPDIR/user-ramdisk
    node dist/cli.mjs eif build --arch ${arch} \
      --kernel ${blobs}/${kernelName} --kernel-config ${blobs}/${kernelName}.config \
      --cmdline ${blobs}/cmdline --init ${blobs}/init --nsm ${blobs}/nsm.ko \
      --rootfs $TMPDIR/user-ramdisk \
      -o $TMPDIR/out/enclave.eif --measurements $TMPDIR/out/measurements.json
    node dist/cli.mjs eif describe $TMPDIR/out/enclave.eif --json > $TMPDIR/out/describe.json
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out
    cp $TMPDIR/out/enclave.eif $TMPDIR/out/measurements.json $TMPDIR/out/describe.json $TMPDIR/enclave/enclave.mjs.meta.json $out/
    runHook postInstall
  '';

  # Nothing to patch or strip: the outputs are data, and their bytes are the point.
  dontFixup = true;
}
