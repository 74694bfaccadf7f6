"""Word lists of the rule-based categories (person_name, address, license_plate). Plain data, no model.

Surnames: common Chinese surnames, led by the household-registration ranking of the Ministry of Public
Security's 户政管理研究中心 (《二〇一九年全国姓名报告》, reported by China News Service on 2020-01-20: 王 李 张 刘 陈
lead; the top 100 cover 85.9 % of registered residents), and classic compound surnames of the 《百家姓》. Province
abbreviations: the one-character abbreviations of the 31 provincial-level divisions, the first character of a
plate number (GA 36-2018).
"""

from __future__ import annotations

SURNAMES_SINGLE = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢"
    "安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
    "辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
SURNAMES_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
                     "夏侯", "轩辕", "令狐", "端木", "西门", "南宫", "独孤", "呼延")

# Words before a name that say a name follows (姓名：, 联系人, 我叫 …) and titles after one (先生, 女士 …).
NAME_CUES_BEFORE = ("姓名", "联系人", "收件人", "收货人", "寄件人", "申请人", "经办人", "持卡人", "患者", "病人", "客户",
                    "负责人", "法定代表人", "法人代表", "户主", "乘客", "学生", "员工", "我叫", "名叫", "叫做", "本人")
NAME_TITLES_AFTER = ("先生", "女士", "小姐", "同学", "老师", "医生", "大夫", "经理", "总监", "主任", "教授", "律师", "阿姨",
                     "师傅", "同志")
EN_TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr", "Prof", "Sir", "Madam")
EN_NAME_CUES = ("my name is", "name:", "name is", "signed by", "contact:", "patient:", "customer:", "dear", "regards,")

# Characters that end a given name (they rarely belong to one): punctuation, function words, and the first
# characters of the cue and title words.
NAME_STOP = set("的了是在和与及或也都就还把被给对向从到于为以而且但却又很最更已将要会能可说讲问电手身证号码住址先女老"
                "医经主教律阿师同您你我他她它们这那里有无不没个位等，。、；：！？,.;:!?（）()【】[]“”\"' \t\n")

# Words whose last character is a surname character but which end before a name (感谢吕敏女士).
WORDS_BEFORE_NAMES = frozenset({"感谢", "谢谢", "多谢", "通知", "告诉", "拜访", "联系", "恭喜", "欢迎", "邀请", "询问", "麻烦",
                                "辛苦", "委托", "转告", "请教", "找到", "陪同", "派遣"})

PROVINCE_ABBREVIATIONS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Administrative-division suffixes (GB/T 2260 names end in them) and the parts of a street address.
ADMIN_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "街道", "省", "市", "区", "县", "旗", "盟", "州", "镇", "乡", "村")
ROAD_SUFFIXES = ("大道", "大街", "胡同", "路", "街", "巷", "弄", "道", "里")
ESTATE_SUFFIXES = ("小区", "花园", "公寓", "大厦", "家园", "新村", "广场", "苑", "府", "城")
EN_STREET_SUFFIXES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
                      "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Parkway")
