/*
 * Safe XML for carrier payloads (libxml2): parsing with network access and
 * entity expansion off, DTDs refused outright (no carrier sends one, and
 * XXE and "billion laughs" need one), and namespace-agnostic navigation
 * by local name. Nodes are borrowed from their document.
 */
#ifndef WISMO_CXML_H
#define WISMO_CXML_H

#include <stddef.h>

#include <libxml/tree.h>

/* Parses buf into *out (free with xmlFreeDoc). 0, WM_EPROTO (not well
 * formed), WM_EUNSAFE (DTD or entity declaration). */
int cxml_parse(const char *buf, size_t len, xmlDoc **out);

/* The root element, or NULL. */
xmlNode *cxml_root(xmlDoc *doc);
/* True when node is an element with this local name (any namespace). */
int cxml_is(const xmlNode *node, const char *name);
/* The first child element with local name, or NULL. */
xmlNode *cxml_child(const xmlNode *node, const char *name);
/* The next sibling element after node with the same local name, or NULL. */
xmlNode *cxml_next(const xmlNode *node);
/* Follows a path of local names separated by '/' from node. */
xmlNode *cxml_path(const xmlNode *node, const char *path);
/* The first element named name anywhere below node (depth first). */
xmlNode *cxml_find(const xmlNode *node, const char *name);

/* The text of node (CDATA included) collapsed by norm_text: a new string
 * (free()) or NULL when absent or blank. */
char *cxml_text(const xmlNode *node);
/* cxml_text of the child named name. */
char *cxml_child_text(const xmlNode *node, const char *name);
/*
 * The trimmed text of node's own text and CDATA children copied into buf,
 * without allocating: an adapter reads dozens of short fields per answer,
 * and copying each through xmlNodeGetContent and norm_text would cost more
 * than parsing. NULL when absent, blank or longer than the buffer.
 */
const char *cxml_text_buf(const xmlNode *node, char *buf, size_t size);
/* The normalised text of node (new string): one allocation for short
 * texts (cxml_text_buf), cxml_text for long ones. */
char *cxml_text_short(const xmlNode *node);
/* An attribute's value (free()), or NULL. */
char *cxml_attr(const xmlNode *node, const char *name);

#endif
