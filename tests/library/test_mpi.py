"""MPI jobs on the emulator: processCount processes through mpirun, spread over the job's nodes."""

import pytest

import batchai_kit as bk

needs_mpirun = pytest.mark.usefixtures("mpirun")  # skips, or fails where runtimes are required


@needs_mpirun
def test_a_custom_mpi_job_runs_process_count_ranks_over_its_nodes(workspace, share):
    with workspace.gpu_cluster("mpi", nodes=2, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomMpiJob(
            name="ranks", node_count=2, process_count=4,
            command="bash -c 'echo rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE'"))
        job.wait(timeout=120)
        lines = sorted(job.read_text("stdout.txt").splitlines())
    assert lines == [f"rank {rank} of 4" for rank in range(4)]


@needs_mpirun
def test_a_failing_rank_fails_the_mpi_job(workspace, share):
    with workspace.gpu_cluster("mpi", nodes=1, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomMpiJob(
            name="onefails", process_count=2,
            command="bash -c 'test $OMPI_COMM_WORLD_RANK -eq 0 || exit 5'"))
        with pytest.raises(bk.JobFailed) as caught:
            job.wait(timeout=120)
    assert caught.value.exit_code != 0 and caught.value.error_codes == ["JobFailed"]


@needs_mpirun
def test_mpi_ranks_run_on_their_own_nodes_with_each_nodes_variables(workspace, share):
    with workspace.gpu_cluster("mpi", nodes=2, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomMpiJob(
            name="placed", node_count=2, process_count=3,
            command="bash -c 'echo $OMPI_COMM_WORLD_RANK $AZ_BATCHAI_IS_CURRENT_NODE_MASTER $AZ_BATCHAI_MOUNT_ROOT'"))
        job.wait(timeout=120)
        lines = sorted(job.read_text("stdout.txt").splitlines())
    ranks = [line.split() for line in lines]
    assert [(rank, master) for rank, master, _ in ranks] == [("0", "true"), ("1", "true"), ("2", "false")]
    roots = [root for _, _, root in ranks]
    assert roots[0] == roots[1] != roots[2]  # ranks 0 and 1 on the master node, rank 2 on the other
