"""`python -m ops redrive-dlq QUEUE`: operator commands. They use the usual AWS variables (AWS_ENDPOINT_URL for
LocalStack or the local stack's moto)."""

from __future__ import annotations

import argparse

import boto3

from ops.redrive import redrive


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    redrive_parser = commands.add_parser("redrive-dlq", help="move a queue's dead letters back to it")
    redrive_parser.add_argument("queue", help="the source queue, e.g. prakerja-nik-checks (its DLQ is <queue>-dlq)")
    args = parser.parse_args()
    if args.command == "redrive-dlq":
        moved = redrive(boto3.client("sqs"), args.queue)
        print(f"moved {moved} messages from {args.queue}-dlq back to {args.queue}")


if __name__ == "__main__":
    main()
