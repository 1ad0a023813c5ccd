"""`latentkit generate`, `verify`, `reproduce` and `keys init`: signed samples and their checks.

`verify` and `reproduce` exit 1 for "checked and not verified / not identical".
"""

from __future__ import annotations

import argparse
import json

from latentkit.cli.options import (
    add_image_format,
    add_model,
    add_overwrite,
    add_signing,
    add_size,
    image_suffix,
    signing_identity,
)


def _generate(args: argparse.Namespace) -> int:
    from latentkit.latent.sampling import parse_seeds, sample_latent
    from latentkit.models import load_bundle
    from latentkit.provenance.export import export_image

    seeds = parse_seeds(args.seeds)
    bundle = load_bundle(args.model)
    identity = signing_identity(args)
    suffix = image_suffix(args.format)
    for seed in seeds:
        export_image(
            bundle,
            sample_latent(seed, bundle.config.latent_dim),
            args.out,
            f"seed{seed:04d}{suffix}",
            seed=seed,
            size=args.size,
            format=args.format,
            quality=args.quality,
            overwrite=args.overwrite,
            identity=identity,
        )
    print(
        f"wrote {len(seeds)} {args.format.upper()} image(s) of {bundle.name!r} at {args.size} px "
        f"to {args.out} (signed by {identity.subject!r}, watermarked)"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from latentkit.provenance.verify import format_report, verify_image

    report = verify_image(args.image, trust=args.trust)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.verified else 1


def _reproduce(args: argparse.Namespace) -> int:
    from latentkit.provenance.reproduce import reproduce_image

    identity = signing_identity(args)
    r = reproduce_image(args.image, args.out, model=args.model, overwrite=args.overwrite, identity=identity)
    for note in r.notes:
        print(f"note: {note}")
    if r.identical:
        print(f"wrote {r.path}: pixels identical to {args.image} (sha256 {r.copy_sha256[:16]})")
        return 0
    why = "another torch or CPU?" if r.original_verified else "the file's record does not match its pixels"
    print(
        f"wrote {r.path}: pixels DIFFER from {args.image} "
        f"(recorded {r.original_sha256[:16]}, re-rendered {r.copy_sha256[:16]}; {why})"
    )
    return 1


def _keys_init(args: argparse.Namespace) -> int:
    from cryptography import x509

    from latentkit.provenance.keys import CA_CERT, CHAIN, fingerprint, init_keys

    folder = init_keys(args.dir, force=args.force)
    ca = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    print(f"created a signing identity in {folder}")
    print(f"  certificate chain  {folder / CHAIN}")
    print(f"  CA certificate     {folder / CA_CERT}  (give it to others for `latentkit verify --trust`)")
    print(
        f"  CA fingerprint     SHA-256 {fingerprint(ca)}  (what `verify` shows for your signatures elsewhere)"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the generate, verify, reproduce and keys subcommands to `sub`."""
    gen = sub.add_parser("generate", help="write signed, watermarked samples of a model")
    add_model(gen)
    gen.add_argument("--seeds", default="0-15", help='seeds: a range "0-15", a list "1,5,9" or a mix')
    add_size(gen)
    add_image_format(gen)
    gen.add_argument("--out", required=True, help="output folder; files are named seedNNNN.png")
    add_overwrite(gen, "replace existing files")
    add_signing(gen)
    gen.set_defaults(func=_generate)

    ver = sub.add_parser("verify", help="check an image's manifest, C2PA signature, pixels and watermark")
    ver.add_argument("image", help="image (PNG, JPEG, WebP, any format Pillow reads) or GIF/MP4 animation")
    ver.add_argument("--json", action="store_true", help="print the full report as JSON")
    ver.add_argument(
        "--trust",
        help="PEM file of CA certificates to trust instead of your own identity's ca.pem (e.g. someone's)",
    )
    ver.set_defaults(func=_verify)

    rep = sub.add_parser("reproduce", help="re-render an image from its manifest and compare pixels")
    rep.add_argument("image", help="an image exported by latentkit")
    rep.add_argument("--model", help="bundle folder (default: the pretrained model named in the manifest)")
    rep.add_argument("--out", required=True, help="where to write the copy (same format as the original)")
    add_overwrite(rep)
    add_signing(rep)
    rep.set_defaults(func=_reproduce)

    keys = sub.add_parser("keys", help="manage the local signing identity")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    init = keys_sub.add_parser("init", help="create a local CA and signing certificate (ES256)")
    init.add_argument(
        "--dir", help="folder for the keys (default: $LATENTKIT_HOME/keys or ~/.config/latentkit/keys)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing identity")
    init.set_defaults(func=_keys_init)
