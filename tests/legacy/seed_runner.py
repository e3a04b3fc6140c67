"""Runs the seed document's Python blocks in order, in one namespace, in a legacy (CPython 3.6)
virtual environment. Started by test_seed.py; Python 3.6 syntax only.

    python seed_runner.py PLAN.json

PLAN.json: {"blocks": [code, ...]} -- the seed's blocks, placeholder values already filled in.
Each block is run exactly as given; before it, a line ``=== block N`` marks the output. The
runner adds its own steps, marked ``--- runner:``, only where a reader of the document would
wait: before listing the job's files it waits until the job has finished (the document lists
them once training is done), and after the deletes it waits until the job and the cluster are
gone, then removes the resource group. It also fetches stdout.txt from the download URL the
document printed, to show the training really ran.
"""

import json
import sys
import time

WAIT = 900  # seconds; the emulator's training takes well under a minute


def runner(text):
    print("--- runner: " + text)
    sys.stdout.flush()


def wait_for_job(namespace):
    client, group, name = namespace["batchai_client"], namespace["resource_group_name"], namespace["job_name"]
    deadline = time.time() + WAIT
    while True:
        state = client.jobs.get(group, name).execution_state.name
        if state in ("succeeded", "failed"):
            runner("job {} finished: {}".format(name, state))
            return
        if time.time() > deadline:
            raise SystemExit("job {} still {} after {} s".format(name, state, WAIT))
        time.sleep(0.5)


def show_stdout(namespace):
    import requests

    client, models = namespace["batchai_client"], namespace["models"]
    listing = client.jobs.list_output_files(namespace["resource_group_name"], namespace["job_name"],
                                            models.JobsListOutputFilesOptions(outputdirectoryid="stdouterr"))
    for entry in listing:
        if entry.name == "stdout.txt":
            text = requests.get(entry.download_url, timeout=60).text
            runner("stdout.txt from its download URL ({} bytes):".format(len(text)))
            print(text.rstrip())
            return
    raise SystemExit("the listing named no stdout.txt")


def wait_until_gone(namespace):
    from msrestazure.azure_exceptions import CloudError

    client, group = namespace["batchai_client"], namespace["resource_group_name"]
    for what, get in (("job", lambda: client.jobs.get(group, namespace["job_name"])),
                      ("cluster", lambda: client.clusters.get(group, namespace["cluster_name"]))):
        deadline = time.time() + WAIT
        while True:
            try:
                get()
            except CloudError as error:
                if error.status_code == 404:
                    runner("{} deleted ({})".format(what, error.error.error))
                    break
                raise
            if time.time() > deadline:
                raise SystemExit("{} still there after {} s".format(what, WAIT))
            time.sleep(0.5)
    namespace["resource_management_client"].resource_groups.delete(group).wait()
    runner("resource group {} deleted".format(group))


def main():
    with open(sys.argv[1]) as handle:
        blocks = json.load(handle)["blocks"]
    namespace = {"__name__": "__seed__"}
    for number, code in enumerate(blocks, 1):
        if "list_output_files" in code:
            wait_for_job(namespace)
        print("=== block {}".format(number))
        sys.stdout.flush()
        exec(compile(code, "seed block {}".format(number), "exec"), namespace)
        sys.stdout.flush()
        if "BatchAIManagementClient" in code:
            runner("the client speaks api-version " + namespace["batchai_client"].clusters.api_version)
        if "list_output_files" in code:
            show_stdout(namespace)
    wait_until_gone(namespace)


if __name__ == "__main__":
    main()
