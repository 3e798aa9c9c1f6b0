/* Shared mode: several verifiers on one PostgreSQL database split the
 * fleet between them, and the agents of a verifier that dies are taken
 * over by the others.
 *
 * Every lease_ms / 3 each verifier:
 *   1. renews its lease (lease_until = now + lease_ms, the database's clock);
 *   2. lets go of agents the database says are no longer its own (taken
 *      over while it was away, or deleted through another verifier) and
 *      adopts agents given to it that it does not hold yet;
 *   3. computes its fair share, ceil(agents / live verifiers), and claims
 *      agents nobody live owns up to that share, or releases what it holds
 *      beyond it for the others to claim.
 * A verifier that cannot renew stops attesting once its own lease would
 * have run out, measured on its own monotonic clock from before the last
 * successful renewal: by then another verifier may hold its agents. Two
 * verifiers may briefly poll one agent during a handover; quotes are
 * read-only and state writes are fenced by ownership (db_pg.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "verifier/verifier.h"

static long long mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct idlist {
	char **ids;
	size_t n, cap;
};

static void idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **p = realloc(l->ids, cap * sizeof *p);
		if (!p)
			return;
		l->ids = p;
		l->cap = cap;
	}
	if ((l->ids[l->n] = strdup(id)))
		l->n++;
}

static void idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
}

struct sweep {
	json_t *owned;		/* NULL: every agent goes */
	struct idlist gone;
	long release;		/* agents to give up */
};

static void pick(const char *id, void *value, void *arg)
{
	struct sweep *s = arg;
	struct agent *a = value;
	if (!s->owned || !json_object_get(s->owned, id))
		idlist_add(&s->gone, id);
	else if (s->release > 0 && !a->busy) {
		idlist_add(&s->gone, id);
		s->release--;
	}
}

/* Drops the agents picked; released ones are given back in the database
 * first (their state is written before, by the caller's flush). */
static void drop_picked(struct verifier *v, struct sweep *s, int release)
{
	for (size_t i = 0; i < s->gone.n; i++) {
		struct agent *a = map_get(v->agents, s->gone.ids[i]);
		if (!a)
			continue;
		int mine = s->owned && json_object_get(s->owned, a->id);
		if (release && mine && verifier_db_release(v->db, a->id) < 0)
			continue;	/* keep it: it is still ours */
		if (s->owned && !mine)
			log_info("agent %s: no longer ours (taken over or deleted "
				 "through another verifier)", a->id);
		else if (release)
			log_info("agent %s: released for a verifier with fewer agents", a->id);
		agent_drop(a, 1);
	}
}

static void drop_all(struct verifier *v, const char *why)
{
	struct sweep s = { NULL, { NULL, 0, 0 }, 0 };
	if (!map_len(v->agents))
		return;
	log_warn("%s: no longer attesting %zu agents", why, map_len(v->agents));
	map_each(v->agents, pick, &s);
	drop_picked(v, &s, 0);
	idlist_free(&s.gone);
}

static int adopt_missing(const char *id, struct verifier *v)
{
	if (map_get(v->agents, id))
		return 0;
	return verifier_db_get_agent(v->db, id, agent_adopt, v) < 0 ? -1 : 0;
}

static void tick(struct verifier *v)
{
	long long started = mono_ms();
	int r = verifier_db_renew(v->db, v->lease_ms);
	if (r == 1) {
		log_error("another verifier process took over id %s on this database; "
			  "stopping (give each verifier its own uuid)", v->verifier_id);
		v->superseded = 1;
		drop_all(v, "superseded");
		event_base_loopbreak(v->base);
		return;
	}
	if (r < 0) {
		log_warn("database: cannot renew the lease: %s", verifier_db_error(v->db));
		if (started >= v->lease_deadline_ms)
			drop_all(v, "lease expired");
		return;
	}
	v->lease_deadline_ms = started + v->lease_ms;

	/* What the database says is ours, against what we hold. */
	state_flush(v);
	json_t *owned = json_object();
	struct sweep s = { owned, { NULL, 0, 0 }, 0 };
	long verifiers, agents, mine;
	if (verifier_db_owned(v->db, owned) < 0 ||
	    verifier_db_counts(v->db, &verifiers, &agents, &mine) < 0) {
		log_warn("database: %s", verifier_db_error(v->db));
		json_decref(owned);
		return;
	}
	long share = verifiers > 0 ? (agents + verifiers - 1) / verifiers : agents;
	if (mine > share)
		s.release = mine - share;
	map_each(v->agents, pick, &s);
	drop_picked(v, &s, 1);
	idlist_free(&s.gone);
	const char *id;
	json_t *val;
	json_object_foreach(owned, id, val)
		if (adopt_missing(id, v) < 0)
			break;
	json_decref(owned);
	if (mine < share) {
		size_t before = map_len(v->agents);
		if (verifier_db_claim(v->db, share - mine, agent_adopt, v) < 0)
			log_warn("database: claiming agents: %s", verifier_db_error(v->db));
		else if (map_len(v->agents) > before)
			log_info("took over %zu agents (%ld verifiers share %ld agents)",
				 map_len(v->agents) - before, verifiers, agents);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	tick(arg);
}

int lease_join(struct verifier *v, const char *ip, int port)
{
	long long started = mono_ms();
	if (verifier_db_join(v->db, v->lease_ms, ip, port) < 0)
		return -1;
	v->lease_deadline_ms = started + v->lease_ms;
	return 0;
}

void lease_start(struct verifier *v)
{
	struct timeval tv = { v->lease_ms / 3000, (v->lease_ms / 3 % 1000) * 1000 };
	v->lease_timer = event_new(v->base, -1, EV_PERSIST, on_tick, v);
	if (v->lease_timer)
		event_add(v->lease_timer, &tv);
	tick(v);
}

void lease_leave(struct verifier *v)
{
	if (v->lease_timer) {
		event_free(v->lease_timer);
		v->lease_timer = NULL;
	}
	state_flush(v);
	if (!v->superseded && verifier_db_leave(v->db) < 0)
		log_warn("database: releasing agents: %s", verifier_db_error(v->db));
}
