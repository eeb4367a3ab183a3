// SPDX-License-Identifier: MIT
/*
 * gpu-double: the doubler's middle stage as a persistent GPU kernel. The
 * kernel reads the input ring and writes the output ring itself, in mapped
 * host memory, with the ring protocol of shmring/agent.h: one launch for the
 * whole stream, none per message. This process attaches like any kernel,
 * hands both ports to the device (shmring_cuda_agent_begin), and runs the
 * host loop that wakes the CPU neighbours and passes a stop to the device.
 *
 *   topology: examples/gpu-doubler/gpu-doubler.yaml (gen ! gpu-double ! sink)
 */
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include <shmring/cuda.h>

#include "../doubler/pair.h"

/* A stop request, read over the bus: checked when idle and every 1024
 * messages, not per message. */
__device__ static bool stop_requested(const shmring_cuda_ctl *ctl)
{
	return cuda::atomic_ref<uint32_t, cuda::thread_scope_system>(
		       *const_cast<uint32_t *>(&ctl->stop)).load(cuda::memory_order_relaxed) != 0;
}

/* Idle back-off: 64 ns doubling to 16 us between looks at an empty ring, so
 * an idle kernel does not hammer the bus; reset by the first message. */
__device__ static void nap(unsigned *idle)
{
	unsigned ns = 64u << (*idle < 8 ? *idle : 8);
	__nanosleep(ns);
	if (*idle < 8)
		(*idle)++;
}

/* The kernel's own error code, beside the SHMRING_AGENT_* ones. */
#define WRONG_SIZE (-100)

__global__ void double_kernel(shmring_agent_end in, shmring_agent_end out, shmring_cuda_ctl *ctl)
{
	uint32_t state = SHMRING_CUDA_RUNNING;
	int32_t err = 0;
	uint64_t handled = 0;
	unsigned idle = 0;
	while (state == SHMRING_CUDA_RUNNING) {
		const void *m;
		int64_t n = shmring_agent_peek(&in, &m);
		if (n == SHMRING_AGENT_EMPTY) {
			if (stop_requested(ctl))
				state = SHMRING_CUDA_STOPPED;
			else
				nap(&idle);
			continue;
		}
		idle = 0;
		if (n == SHMRING_AGENT_EOS) {
			state = SHMRING_CUDA_FINISHED;
			break;
		}
		if (n < 0 || n != (int64_t)sizeof(pair)) {
			state = SHMRING_CUDA_FAILED;
			err = n < 0 ? (int32_t)n : WRONG_SIZE;
			break;
		}
		void *o;
		int rc;
		while ((rc = shmring_agent_reserve(&out, sizeof(pair), &o)) == SHMRING_AGENT_EMPTY) {
			if (stop_requested(ctl)) {
				state = SHMRING_CUDA_STOPPED;
				break;
			}
			nap(&idle);
		}
		idle = 0;
		if (state != SHMRING_CUDA_RUNNING)
			break; /* stopped while the output was full: nothing reserved */
		if (rc < 0) {
			state = SHMRING_CUDA_FAILED;
			err = rc;
			break;
		}
		/* Plain loads and stores: the peek's acquire made the payload
		 * visible, the commit's release publishes ours. */
		const pair *p = static_cast<const pair *>(m);
		pair *q = static_cast<pair *>(o);
		q->seq = p->seq;
		q->value = 2 * p->value;
		shmring_agent_commit(&out, sizeof(pair));
		shmring_agent_release(&in);
		if ((++handled & 1023) == 0) {
			cuda::atomic_ref<uint64_t, cuda::thread_scope_system>(ctl->progress)
				.store(handled, cuda::memory_order_relaxed);
			if (stop_requested(ctl))
				state = SHMRING_CUDA_STOPPED;
		}
	}
	/* Hand every release and commit back before saying how it ended. */
	shmring_agent_publish(&in);
	shmring_agent_publish(&out);
	cuda::atomic_ref<uint64_t, cuda::thread_scope_system>(ctl->progress)
		.store(handled, cuda::memory_order_relaxed);
	cuda::atomic_ref<int32_t, cuda::thread_scope_system>(ctl->error)
		.store(err, cuda::memory_order_relaxed);
	/* Release: the publications above are visible to the host that reads
	 * state (after cudaStreamQuery reported the end). */
	cuda::atomic_ref<uint32_t, cuda::thread_scope_system>(ctl->state)
		.store(state, cuda::memory_order_release);
}

static int cuda_check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	fprintf(stderr, "gpu-double: %s: %s (%s)\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
	return -1;
}

int main(int argc, char **argv)
{
	int grace_ms = 2000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace-ms") && i + 1 < argc) {
			grace_ms = (int)example_u64(argv[++i], "--grace-ms");
		} else {
			fprintf(stderr, "usage: gpu-double [--grace-ms N]   (a kernel: run it with "
					"shmring-supervisor, e.g. examples/gpu-doubler/gpu-doubler.yaml)\n");
			return SHMRING_EXIT_CONFIG; /* a usage error: a restart cannot help */
		}
	}
	/* CUDA first, so a machine without a GPU fails before the topology
	 * starts, with the reason, and is not restarted: no restart brings a
	 * GPU. This process was exec'd: CUDA is safe here. */
	if (!shmring_cuda_available()) {
		fprintf(stderr, "gpu-double: %s: run this topology on a machine with an NVIDIA GPU\n",
			shmring_cuda_errmsg());
		return SHMRING_EXIT_CONFIG;
	}
	struct shmring_kernel *k = example_attach();
	struct shmring *in = example_port(k, "in"), *out = example_port(k, "out");

	shmring_cuda_ctl *ctl, *dctl;
	shmring_agent_end ein, eout;
	cudaStream_t s;
	if (shmring_cuda_ctl_create(&ctl, &dctl) < 0 ||
	    shmring_cuda_agent_begin(in, 64, &ein) < 0 || shmring_cuda_agent_begin(out, 1, &eout) < 0) {
		fprintf(stderr, "gpu-double: %s\n", shmring_cuda_errmsg());
		return 1;
	}
	if (cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"))
		return 1;
	double_kernel<<<1, 1, 0, s>>>(ein, eout, dctl);
	if (cuda_check(cudaGetLastError(), "launching the persistent kernel"))
		return 1;

	struct shmring *ends[2] = { in, out };
	int rc = shmring_cuda_host_loop(k, s, ctl, ends, 2, grace_ms);
	if (rc == -ETIMEDOUT) {
		/* The device may still touch the rings: do not take them back.
		 * Exiting destroys the context, which ends the kernel. */
		fprintf(stderr, "gpu-double: %s\n", shmring_cuda_errmsg());
		fflush(stderr);
		_exit(1);
	}
	unsigned long long handled = ctl->progress;
	int wiring = rc < 0 && ctl->error == WRONG_SIZE; /* configuration: 78 below */
	if (wiring)
		fprintf(stderr, "gpu-double: a message of the wrong size arrived (want %zu bytes, "
				"a struct pair): connect it to a pair producer such as gen\n", sizeof(pair));
	else if (rc < 0)
		fprintf(stderr, "gpu-double: %s\n", shmring_cuda_errmsg());
	if (shmring_cuda_agent_end(in) < 0 || shmring_cuda_agent_end(out) < 0) {
		fprintf(stderr, "gpu-double: %s\n", shmring_cuda_errmsg());
		rc = -EIO;
	}
	printf("gpu-double: %s after %llu messages\n",
	       rc == 0 ? "finished" : rc == 1 ? "stopped" : "failed", handled);
	cudaStreamDestroy(s);
	shmring_cuda_ctl_destroy(ctl);
	if (rc < 0) {
		/* Failed: leave the ends open so a restarted kernel can carry on
		 * (pair.h); wrongly wired is not restarted. */
		return wiring ? SHMRING_EXIT_CONFIG : 1;
	}
	return shmring_kernel_detach(k) < 0 ? 1 : 0;
}
