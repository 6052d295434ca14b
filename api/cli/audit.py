"""For auditors: verify that nothing recorded or paid was changed afterwards, and keep the
signed checkpoints that prove it somewhere the database's writers cannot reach."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from api.cli.opening import open_ledger
from api.cli.progress import bar
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.verification import verify as verify_ledger
from projections.engine.batch_gc import rare_collections
from projections.reads import audit_chain
from projections.reads.checkpointing import AdoptionRefusedError, adopt, export
from projections.storage.checkpoints import Checkpoint
from projections.storage.keys import Keyring, public_key_text
from projections.storage.signing import EventSignatures, UnverifiedEventError, signatures_of


def _head(_: click.Context, __: click.Parameter, text: str | None) -> audit_chain.Head | None:
    if text is None:
        return None
    try:
        return audit_chain.Head.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _checkpoints(_: click.Context, __: click.Parameter, path: Path | None) -> list[Checkpoint]:
    if path is None:
        return []
    found = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.parse(line))
            except ValueError as error:
                raise click.BadParameter(f"line {number}: {error}") from None
    return found


def _signatures(runtime: Runtime) -> EventSignatures:
    signatures = signatures_of(runtime.ledger.mapper)
    if signatures is None:
        raise click.ClickException("this ledger does not sign its events")
    return signatures


@click.command()
@click.option(
    "--expected-head",
    callback=_head,
    help="POSITION:HASH recorded elsewhere earlier; detects events removed from the end.",
)
@click.option(
    "--checkpoints",
    "checkpoints",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    callback=_checkpoints,
    help="A file of signed checkpoints exported earlier (ledger checkpoints export): the "
    "chain must still pass through every one.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Check every event's signature, not only those after the latest signed checkpoint.",
)
def verify(
    expected_head: audit_chain.Head | None, checkpoints: list[Checkpoint], full: bool
) -> None:
    """Recompute the audit chain from every stored event, check the events' signatures
    and the signed checkpoints, every closed period's lines from its position, and the
    balance of every closed month.

    The chain must pass through every signed checkpoint, so the events up to the latest
    one are those whose signatures were checked before it was signed: only the signatures
    after it are checked, over every core, unless --full. A verification that passes signs
    a checkpoint at its head (when this installation holds the signing key).

    Prints the head (position:hash) to record elsewhere; exits 1 naming the first position
    that fails (a row outside the chain, an unsigned or wrongly signed event, an altered,
    deleted or inserted row, a checkpoint the chain no longer passes through), a period
    whose digest differs, or a month that does not balance.

    Example: ledger verify --checkpoints checkpoints.jsonl --expected-head 1200:9f86d08...
    """
    with open_ledger() as runtime, rare_collections():
        try:
            runtime.projector.catch_up()
        except UnverifiedEventError as error:
            click.echo(f"the views stop before an event that does not verify: {error}", err=True)
        position = runtime.read_side.position
        with bar("Recomputing the audit chain", runtime.ledger.position, "events") as advance:
            result = verify_ledger(
                runtime.ledger,
                runtime.views,
                position,
                expected_head,
                checkpoints,
                progress=advance,
                full=full,
                mark=runtime.checkpointer,
            )
    chain = result.chain
    click.echo(f"head {chain.head}")
    click.echo(chain.explanation)
    keys = ", ".join(chain.keys) or "none"
    earlier = chain.checked_earlier_through
    signatures = (
        f"{chain.signatures_checked - chain.unsigned} signed (keys: {keys}), "
        f"{chain.unsigned} adopted unsigned"
    )
    if earlier:
        signatures = (
            f"the signatures up to position {earlier} checked before its signed checkpoint, "
            f"the {chain.signatures_checked} after it now: {signatures}"
        )
    click.echo(
        f"{chain.events} events: {signatures}; {chain.checkpoints} signed checkpoints checked"
    )
    for period in result.wrong_digests:
        click.echo(
            f"period {period.programme} {period.region} {period.month}: its lines recomputed "
            f"at position {period.position} do not match the recorded digest",
            err=True,
        )
    for account in result.unbalanced:
        click.echo(
            f"{account.programme} {account.region} {account.month}: entitled "
            f"{account.entitled} != paid {account.paid} + settled {account.settled} + "
            f"outstanding {account.outstanding}",
            err=True,
        )
    periods, months = len(result.periods), len(result.months)
    click.echo(
        f"{periods - len(result.wrong_digests)} of {periods} closed periods match their "
        f"digest; {months - len(result.unbalanced)} of {months} closed months balance"
    )
    if not chain.ok:
        click.echo(f"first position that differs: {chain.first_difference}", err=True)
    if not result.ok:
        sys.exit(1)


@click.group()
def checkpoints() -> None:
    """Signed checkpoints of the audit chain: take one now, or export them all.

    The service takes one every LEDGER_CHECKPOINT_EVERY events (and every 5 minutes when
    events were recorded); export them regularly to a place the database's writers cannot
    reach, and verify against that file.

    Example: ledger checkpoints export /mnt/audit/checkpoints.jsonl
    """


@checkpoints.command("take")
def take() -> None:
    """Recompute the chain since the latest checkpoint, check every event's signature, and
    sign its head now. Prints the checkpoint as a JSON line.

    Example: ledger checkpoints take >> /mnt/audit/checkpoints.jsonl
    """
    with opened() as runtime:
        checkpointer = runtime.checkpointer
        if checkpointer is None:
            raise click.ClickException("no signing key (LEDGER_SIGNING_KEY): cannot sign")
        checkpoint = checkpointer.take()
    if checkpoint is None:
        raise click.ClickException("the ledger is empty: there is nothing to checkpoint")
    click.echo(checkpoint.line())


@checkpoints.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_command(path: Path) -> None:
    """Write every stored checkpoint signed with a known key to PATH, one JSON line each
    ("-": standard output).

    Example: ledger checkpoints export /mnt/audit/checkpoints.jsonl
    """
    with opened() as runtime:
        found = export(runtime.ledger.recorder, _signatures(runtime))
    lines = "".join(f"{checkpoint.line()}\n" for checkpoint in found)
    if str(path) == "-":
        click.echo(lines, nl=False)
        return
    path.write_text(lines, encoding="utf-8")
    latest = f", the latest at position {found[-1].position}" if found else ""
    click.echo(f"exported {len(found)} checkpoints to {path}{latest}")


@click.command("adopt-signing")
@click.option(
    "--expected-head",
    required=True,
    callback=_head,
    help="POSITION:HASH printed by ledger verify before the upgrade to signed events.",
)
def adopt_signing(expected_head: audit_chain.Head) -> None:
    """Adopt a ledger stored before events were signed: recompute its chain, check it
    against a head recorded before the upgrade, and sign an adoption checkpoint there.
    Events up to that position may then be unsigned; every later one must be signed.
    Refused when the chain differs, an unsigned event follows the head, or the ledger was
    adopted already.

    Example: ledger adopt-signing --expected-head 7189:4a358005b7a792b6...
    """
    with opened() as runtime:
        try:
            adopted = adopt(runtime.ledger.recorder, _signatures(runtime), expected_head)
        except AdoptionRefusedError as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(adopted.line())
    click.echo(
        f"events up to position {adopted.position} may be unsigned, every later one must be "
        "signed; keep this line with the exported checkpoints",
        err=True,
    )


@click.command("verify-keys")
def verify_keys() -> None:
    """Print the public keys this installation verifies with, the signing key's among them,
    as the JSON that LEDGER_VERIFY_KEYS takes: give it to auditors, and keep the old ones
    when the signing key rotates.

    Example: ledger verify-keys > verify-keys.json
    """
    keyring = Keyring.from_env(Settings().ledger_env())
    click.echo(json.dumps({key_id: public_key_text(key) for key_id, key in keyring.public.items()}))


COMMANDS = (verify, checkpoints, adopt_signing, verify_keys)
