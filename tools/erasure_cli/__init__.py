"""The operator's command line for the relay API: submit deletions, read and watch their receipts.

    python -m tools.erasure_cli submit --email jane@example.com --external-id jane-2024
    python -m tools.erasure_cli submit --file people.csv        # or .jsonl: many people, in bulks
    python -m tools.erasure_cli submit --email jane@example.com --dry-run --enrich  # nothing deleted
    python -m tools.erasure_cli status <request_id> [--json]
    python -m tools.erasure_cli watch <request_id> [--interval 2] [--timeout 600]
    python -m tools.erasure_cli cancel <request_id>            # what no vendor was sent is not sent

Every call is SigV4-signed (service execute-api) with the caller's AWS credentials, found as the
AWS CLI finds them (--profile, AWS_PROFILE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws), and
sent to --api-url: by default $ERASURE_API_URL, else http://127.0.0.1:3000. A deployed API's URL
names its stage: https://<api-id>.execute-api.<region>.amazonaws.com/api (the stack's outputs give
it). `--local` signs with the local stack's operator key pair instead (tools.sam_local), for the
stack of `make demo-stack` or `python -m tools.sam_local start`.

A file holds one person a row: JSON Lines of requests as POST /v1/deletions takes them
({"request_id"?, "action"?, "identity": {...}, "vendors"?}), or CSV with a header naming the
columns request_id, action, vendors (separated by ";"), one column per identifier type
(external_id, email, ...), user_alias.alias_name and user_alias.alias_label, custom.<name>.
A row without a request_id is given one here, so that every row's answer names its request.
--dry-run and --enrich apply to the person of the flags, or to every row of the file that does not
say `dry_run` / `enrich` itself (JSON Lines). A dry run deletes nothing: each vendor's lookup says
what it would erase (would_delete, not_found, ambiguous, no_lookup) or that the credentials are
refused (unauthorized), and the receipt is final at once.

Exit status: 0 done; 1 done, but not everything was accepted (submit) or final in time (watch),
or the request was final already (cancel);
2 nothing could be done (the reason is one line on stderr); 130 interrupted.

Installed (`pip install .` or `pipx install .` from a checkout) it is the command `erasure`, with
`erasure --version` and shell completion: `erasure --print-completion bash > ~/.erasure.bash`
(or zsh, tcsh), then source it.
"""

__version__ = "0.2.0"
