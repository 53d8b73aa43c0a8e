"""Operator commands: `python -m ops redrive-dlq QUEUE`, `python -m ops admin-token --subject NAME`,
`python -m ops partner-secret --partner NAME` (creates or rotates a training partner; prints its secret once).

They use the usual AWS variables (AWS_ENDPOINT_URL for LocalStack or the local stack's moto) and, for the admin
token, the deployment's PRAKERJA_* variables (the keyring table and the KMS key)."""

from __future__ import annotations

import argparse

import boto3

from ops.redrive import redrive


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    redrive_parser = commands.add_parser("redrive-dlq", help="move a queue's dead letters back to it")
    redrive_parser.add_argument("queue", help="the source queue, e.g. prakerja-nik-checks (its DLQ is <queue>-dlq)")
    token_parser = commands.add_parser("admin-token", help="mint a short-lived admin token (needs the PRAKERJA_* env)")
    token_parser.add_argument("--subject", required=True, help="who the token is for, e.g. ops@kemnaker.go.id")
    token_parser.add_argument("--hours", type=float, default=1.0)
    partner_parser = commands.add_parser(
        "partner-secret", help="create a training partner, or rotate its secret; prints the secret once"
    )
    partner_parser.add_argument("--partner", required=True, help="the partner's id, e.g. skill-academy")
    partner_parser.add_argument("--display-name", help="the partner's name as members see it")
    args = parser.parse_args()
    if args.command == "redrive-dlq":
        moved = redrive(boto3.client("sqs"), args.queue)
        print(f"moved {moved} messages from {args.queue}-dlq back to {args.queue}")
    elif args.command == "admin-token":
        from functions.services import admin

        print(admin.mint(args.subject, args.hours))
    elif args.command == "partner-secret":
        from functions.services import partner_auth

        try:
            print(partner_auth.create_or_rotate(args.partner, args.display_name))
        except ValueError as error:
            parser.error(str(error))


if __name__ == "__main__":
    main()
