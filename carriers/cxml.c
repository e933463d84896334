/*
 * Safe XML for carrier payloads. libxml2 2.9 has no XML_PARSE_NO_XXE, so a
 * document type declaration is refused before parsing: carriers never send
 * one, and every entity attack (XXE, "billion laughs") needs one. Parsing
 * runs with network access off and no entity substitution as a second
 * line of defence.
 */
#include "wismo/cxml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "wismo/norm.h"
#include "wismo/wm.h"

#define CXML_OPTIONS                                                           \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |               \
     XML_PARSE_NOCDATA)

/* True when buf holds "<!DOCTYPE" or "<!ENTITY" anywhere: both are only
 * legal in a prolog, and refusing them anywhere is simplest. */
static int has_dtd(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;

    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if (end - p >= 9 && p[1] == '!' &&
            (memcmp(p + 2, "DOCTYPE", 7) == 0 ||
             memcmp(p + 2, "ENTITY", 6) == 0))
            return 1;
        p++;
    }
    return 0;
}

int cxml_parse(const char *buf, size_t len, xmlDoc **out)
{
    xmlDoc *doc;

    *out = NULL;
    if (buf == NULL || len == 0 || len > INT32_MAX)
        return WM_EPROTO;
    if (has_dtd(buf, len))
        return WM_EUNSAFE;
    doc = xmlReadMemory(buf, (int)len, NULL, NULL, CXML_OPTIONS);
    if (doc == NULL)
        return WM_EPROTO;
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        xmlFreeDoc(doc);
        return WM_EUNSAFE;
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        return WM_EPROTO;
    }
    *out = doc;
    return 0;
}

xmlNode *cxml_root(xmlDoc *doc)
{
    return doc != NULL ? xmlDocGetRootElement(doc) : NULL;
}

int cxml_is(const xmlNode *node, const char *name)
{
    return node != NULL && node->type == XML_ELEMENT_NODE &&
           strcmp((const char *)node->name, name) == 0;
}

xmlNode *cxml_child(const xmlNode *node, const char *name)
{
    if (node == NULL)
        return NULL;
    for (xmlNode *c = node->children; c != NULL; c = c->next)
        if (cxml_is(c, name))
            return c;
    return NULL;
}

xmlNode *cxml_next(const xmlNode *node)
{
    if (node == NULL)
        return NULL;
    for (xmlNode *c = node->next; c != NULL; c = c->next)
        if (cxml_is(c, (const char *)node->name))
            return c;
    return NULL;
}

xmlNode *cxml_path(const xmlNode *node, const char *path)
{
    char part[64];

    while (node != NULL && *path != '\0') {
        size_t n = strcspn(path, "/");

        if (n == 0 || n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        node = cxml_child(node, part);
        path += n;
        if (*path == '/')
            path++;
    }
    return (xmlNode *)node;
}

xmlNode *cxml_find(const xmlNode *node, const char *name)
{
    /* Iterative pre-order walk: hostile nesting cannot blow the stack. */
    const xmlNode *n = node != NULL ? node->children : NULL;

    while (n != NULL) {
        if (cxml_is(n, name))
            return (xmlNode *)n;
        if (n->children != NULL && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            if (n == node)
                return NULL;
        }
        if (n != NULL)
            n = n->next;
    }
    return NULL;
}

char *cxml_text(const xmlNode *node)
{
    xmlChar *raw;
    char *text;

    if (node == NULL)
        return NULL;
    raw = xmlNodeGetContent(node);
    if (raw == NULL)
        return NULL;
    text = norm_text((const char *)raw);
    xmlFree(raw);
    return text;
}

char *cxml_child_text(const xmlNode *node, const char *name)
{
    return cxml_text(cxml_child(node, name));
}

const char *cxml_text_buf(const xmlNode *node, char *buf, size_t size)
{
    size_t len = 0, start = 0;

    if (node == NULL)
        return NULL;
    for (const xmlNode *c = node->children; c != NULL; c = c->next) {
        size_t n;

        if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) ||
            c->content == NULL)
            continue;
        n = strlen((const char *)c->content);
        if (n >= size - len)
            return NULL;
        memcpy(buf + len, c->content, n);
        len += n;
    }
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
                       buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    while (start < len && (buf[start] == ' ' || buf[start] == '\t' ||
                           buf[start] == '\n' || buf[start] == '\r'))
        start++;
    if (start == len)
        return NULL;
    buf[len] = '\0';
    return buf + start;
}

char *cxml_text_short(const xmlNode *node)
{
    char buf[256];
    const char *t;

    if (node == NULL)
        return NULL;
    t = cxml_text_buf(node, buf, sizeof(buf));
    return t != NULL ? norm_text(t) : cxml_text(node);
}

char *cxml_attr(const xmlNode *node, const char *name)
{
    xmlChar *raw;
    char *v;

    if (node == NULL)
        return NULL;
    raw = xmlGetProp(node, (const xmlChar *)name);
    if (raw == NULL)
        return NULL;
    v = wm_xstrdup((const char *)raw);
    xmlFree(raw);
    return v;
}
