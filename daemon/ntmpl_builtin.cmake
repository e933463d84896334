# Compiles the default notification templates (contrib/templates/
# <locale>.sms and <locale>.email) into a C source (cmake -P), so that
# wismod speaks every locale wherever it runs; a templates folder only
# overrides them. One NUL-terminated byte array per file and a table of
# {name, text}. Run by daemon/CMakeLists.txt.
#   cmake -DDIR=<contrib/templates> -DOUT=<ntmpl_builtin.c> -P ntmpl_builtin.cmake
file(GLOB files RELATIVE ${DIR} ${DIR}/*.sms ${DIR}/*.email)
list(SORT files)
if(NOT files)
    message(FATAL_ERROR "no templates in ${DIR}")
endif()
set(body "/* Generated from contrib/templates/ by daemon/ntmpl_builtin.cmake. */\n")
string(APPEND body "#include \"wismo/ntmpl.h\"\n\n")
set(table "")
set(i 0)
foreach(f IN LISTS files)
    file(READ ${DIR}/${f} hex HEX)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
    string(APPEND body "static const unsigned char t${i}[] = {\n${hex}0x00};\n")
    string(APPEND table "    {\"${f}\", (const char *)t${i}},\n")
    math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nconst struct ntmpl_file ntmpl_builtin[] = {\n${table}    {0, 0}};\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
