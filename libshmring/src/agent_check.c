/* SPDX-License-Identifier: MIT */
/*
 * shmring/agent.h speaks the ring layout on its own (it is public and is
 * compiled by nvcc, so it cannot include the private layout.h). Every
 * constant it carries, and the width and alignment of every shared word it
 * reaches through struct shmring_mapping, is checked here against the
 * layout the library uses: a layout change that would leave the agent
 * behind fails the library's build. No code; compiled into libshmring so
 * the check cannot be skipped.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "shmring/agent.h"
#include "layout.h"

/* A layout change bumps the version (layout.h), so agent.h is reviewed. */
static_assert(SHMRING_AGENT_LAYOUT_VERSION == SHMRING_LAYOUT_VERSION,
	      "agent.h speaks another ring layout version: update it with layout.h");

/* The record format. */
static_assert(SHMRING_AGENT_REC_HDR == SHMRING_REC_HDR, "agent.h: record header size");
static_assert(SHMRING_AGENT_REC_ALIGN == SHMRING_REC_ALIGN, "agent.h: record alignment");
static_assert(SHMRING_AGENT_REC_TYPE_SHIFT == SHMRING_REC_TYPE_SHIFT,
	      "agent.h: where the type sits in a record header");
static_assert(SHMRING_AGENT_REC_MSG == SHMRING_REC_MSG, "agent.h: message record type");
static_assert(SHMRING_AGENT_REC_PAD == SHMRING_REC_PAD, "agent.h: pad record type");
static_assert(SHMRING_AGENT_REC_PIECE == SHMRING_REC_PIECE, "agent.h: piece record type");

/* The words agent.h loads and stores, at the offsets shmring_mapping gives
 * (offsetof these members): 64-bit indices, counters and peek position,
 * 32-bit closed flags, each naturally aligned so its atomic access is one
 * access on the CPU and over PCIe. */
#define SMR_AGENT_WORD(member, bytes)                                               \
	static_assert(sizeof(((struct smr_header *)0)->member) == (bytes) &&          \
		      offsetof(struct smr_header, member) % (bytes) == 0,             \
		      "agent.h: " #member " is not the " #bytes "-byte word it accesses")
SMR_AGENT_WORD(head.pos, 8);
SMR_AGENT_WORD(tail.pos, 8);
SMR_AGENT_WORD(prod.closed, 4);
SMR_AGENT_WORD(cons.closed, 4);
SMR_AGENT_WORD(prod_ctr.msgs, 8);
SMR_AGENT_WORD(prod_ctr.bytes, 8);
SMR_AGENT_WORD(cons_ctr.msgs, 8);
SMR_AGENT_WORD(cons_ctr.bytes, 8);
SMR_AGENT_WORD(cons_ctr.peeked, 8);
/* Records start on the data offset shmring_mapping reports; the agent
 * casts record headers to 64-bit words there. */
static_assert(SHMRING_DATA_OFFSET % SHMRING_AGENT_REC_ALIGN == 0,
	      "agent.h: the data area is not record-aligned");
